/* ankiops choice card: shuffles the choices (the same order on front and back), lets the learner pick on the
   front and checks the picks against the Answer field on the back. Without script the choices stay in their
   written order, numbered, and the back shows the Answer field as written. */
(function () {
  var roots = document.querySelectorAll(".ao-choice");
  var root = roots[roots.length - 1];
  if (!root) return;
  var list = root.querySelector(".ao-choices");
  if (!list) return;
  var back = root.getAttribute("data-side") === "back";
  var items = Array.prototype.slice.call(list.querySelectorAll(".ao-choice-item"));
  var keyEl = root.querySelector(".ao-answer-key-value");
  var correct = {};
  var nCorrect = 0;
  ((keyEl && keyEl.textContent) || "").replace(/\d+/g, function (n) {
    if (!correct[n]) nCorrect++;
    correct[n] = true;
    return n;
  });

  /* A stable 32-bit hash of the note's text seeds the shuffle, so front and back agree. */
  var text = (root.querySelector(".ao-question") || root).textContent;
  items.forEach(function (li) { text += "\u241f" + li.textContent; });
  var h = 2166136261;
  for (var i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619) >>> 0;
  }
  var id = "ankiops-choice:" + h.toString(36);

  function store(kind) {
    try { return window[kind]; } catch (e) { return null; }
  }
  var local = store("localStorage");
  var session = store("sessionStorage");
  function get(s, k) { try { return s ? s.getItem(k) : null; } catch (e) { return null; } }
  function set(s, k, v) { try { if (s) s.setItem(k, v); } catch (e) { /* storage full or disabled */ } }

  /* Each showing of the front counts one review, so the order changes from review to review. */
  var round = parseInt(get(local, id + ":round") || "0", 10) || 0;
  if (!back) {
    round += 1;
    set(local, id + ":round", String(round));
  }
  var seed = (h ^ Math.imul(round, 2654435761)) >>> 0;
  function random() {
    seed = (seed + 0x6d2b79f5) >>> 0;
    var t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  var order = items.slice();
  for (var j = order.length - 1; j > 0; j--) {
    var k = Math.floor(random() * (j + 1));
    var tmp = order[j];
    order[j] = order[k];
    order[k] = tmp;
  }
  order.forEach(function (li, idx) {
    li.setAttribute("data-letter", String.fromCharCode(65 + idx));
    list.appendChild(li);
  });
  list.className += " ao-shuffled";

  var hint = root.querySelector(".ao-choice-hint");
  var picked = {};
  if (!back) {
    if (hint && nCorrect > 0) {
      hint.textContent = nCorrect === 1 ? "Pick one answer" : "Pick " + nCorrect + " answers";
    }
    set(session, id + ":picked", "");
    window.__ankiopsChoice = { id: id, picked: "" };
    order.forEach(function (li) {
      li.setAttribute("role", nCorrect === 1 ? "radio" : "checkbox");
      li.setAttribute("tabindex", "0");
      li.setAttribute("aria-checked", "false");
      function toggle(ev) {
        if (ev && ev.type === "keydown" && ev.key !== "Enter" && ev.key !== " ") return;
        if (ev && ev.preventDefault) ev.preventDefault();
        var n = li.getAttribute("data-n");
        if (nCorrect === 1) picked = {};
        if (picked[n]) delete picked[n]; else picked[n] = true;
        items.forEach(function (other) {
          var on = !!picked[other.getAttribute("data-n")];
          other.classList.toggle("ao-picked", on);
          other.setAttribute("aria-checked", on ? "true" : "false");
        });
        var value = Object.keys(picked).join(",");
        set(session, id + ":picked", value);
        window.__ankiopsChoice = { id: id, picked: value };
      }
      li.addEventListener("click", toggle);
      li.addEventListener("keydown", toggle);
    });
    return;
  }

  /* Back: mark every choice and sum up. */
  var mem = window.__ankiopsChoice;
  var pickedText = mem && mem.id === id ? mem.picked : get(session, id + ":picked");
  (pickedText || "").replace(/\d+/g, function (n) { picked[n] = true; return n; });
  var anyPicked = Object.keys(picked).length > 0;
  var right = 0, wrong = 0, missed = 0, letters = [];
  order.forEach(function (li) {
    var n = li.getAttribute("data-n");
    var isCorrect = !!correct[n];
    var isPicked = !!picked[n];
    if (isCorrect) letters.push(li.getAttribute("data-letter"));
    if (isCorrect && isPicked) right++;
    if (!isCorrect && isPicked) wrong++;
    if (isCorrect && !isPicked) missed++;
    li.classList.add(isCorrect ? "ao-correct" : "ao-incorrect");
    if (isPicked) li.classList.add("ao-picked");
  });
  if (keyEl) {
    keyEl.textContent = letters.join(", ");
    var label = root.querySelector(".ao-answer-key-label");
    if (label) label.textContent = letters.length === 1 ? "Answer:" : "Answers:";
  }
  var result = root.querySelector(".ao-choice-result");
  if (result && anyPicked) {
    var ok = wrong === 0 && missed === 0;
    result.className += ok ? " ao-result-good" : " ao-result-bad";
    result.textContent = ok
      ? "\u2713 Correct"
      : "\u2717 " + right + " of " + nCorrect + " right" + (wrong ? ", " + wrong + " wrong" : "");
  }
})();
