#!/usr/bin/env python3
"""AnkiConnect-protocol test server on the official `anki` package (pinned: anki==26.9.3).

It serves a real Anki collection the way Anki desktop with the AnkiConnect add-on
(upstream de6e6e1) does: the same wire format (raw socket, the same four reply headers,
the connection closed after each reply), the same envelope rules (bare v4 replies,
`{result, error}` for v6, errors always enveloped), the same action semantics and error
strings as recorded in shared/ankiconnect-transcripts/.

Like Anki desktop it has profiles: `--base DIR` holds one folder per profile with its
`collection.anki2` and `collection.media`; `--profile` picks the one opened at start.

Test-only actions (hidden from apiReflect, prefixed `_test`) stand in for what a user does
in Anki's GUI: `_testSyncLogin {endpoint, username, password}` logs the profile in to a
sync server, `_testFullSync {upload}` runs the full upload/download a user confirms, `_testAnswerCard {card, ease}`
reviews a card, `_testSetFieldKeepMod {note, field, value}` edits a field leaving the note's mod as it was.

Usage: python ankiconnect_server.py --base DIR [--profile NAME] [--port 8765] [--api-key K]
Prints `listening on http://127.0.0.1:PORT` once ready (port 0 picks a free port).
Stdlib only, plus `anki`.
"""

import argparse
import base64
import glob
import hashlib
import json
import os
import pprint
import signal
import socket
import sys
import time
import unicodedata

import anki.lang
from anki.collection import Collection
from anki.errors import NotFoundError
from anki.notes import Note
from anki.sync import SyncAuth
import anki.utils

API_VERSION = 6
COLLECTION_FILE = "collection.anki2"
PREFS_FILE = "ankiops-testkit-profile.json"
SYNC_STATUS_URL = (
    "https://github.com/ankitects/anki/blob/e41c4573d789afe8b020fab5d9d1eede50c3fa3d"
    "/proto/anki/sync.proto#L57-L65"
)

# The add-on validates each request body with this jsonschema; its messages quote it.
REQUEST_SCHEMA = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "minLength": 1},
        "version": {"type": "integer"},
        "params": {"type": "object"},
    },
    "required": ["action"],
}


def api(fn):
    """Marks a method as a public AnkiConnect action."""
    fn.api = True
    return fn


class SchemaError(Exception):
    pass


def _indent(text, prefix="    "):
    return "\n".join(prefix + line for line in text.splitlines())


def _schema_error(message, validator, schema_path, schema, instance_path, instance):
    """Formats an error the way jsonschema's ValidationError.__str__ does."""
    return SchemaError(
        f"{message}\n\n"
        f"Failed validating {validator!r} in {schema_path}:\n"
        f"{_indent(pprint.pformat(schema, width=72, sort_dicts=False))}\n\n"
        f"On {instance_path}:\n"
        f"{_indent(pprint.pformat(instance, width=72, sort_dicts=False))}"
    )


def validate_request(req):
    """Hand-written check equivalent to jsonschema.validate(req, REQUEST_SCHEMA)."""
    if not isinstance(req, dict):
        raise _schema_error(
            f"{req!r} is not of type 'object'", "type", "schema", REQUEST_SCHEMA, "instance", req
        )
    props = REQUEST_SCHEMA["properties"]
    if "action" in req:
        action = req["action"]
        if not isinstance(action, str):
            raise _schema_error(
                f"{action!r} is not of type 'string'", "type",
                "schema['properties']['action']", props["action"], "instance['action']", action,
            )
        if len(action) < 1:
            raise _schema_error(
                f"{action!r} should be non-empty", "minLength",
                "schema['properties']['action']", props["action"], "instance['action']", action,
            )
    if "version" in req:
        v = req["version"]
        if not isinstance(v, int) or isinstance(v, bool):
            raise _schema_error(
                f"{v!r} is not of type 'integer'", "type",
                "schema['properties']['version']", props["version"], "instance['version']", v,
            )
    if "params" in req and not isinstance(req["params"], dict):
        p = req["params"]
        raise _schema_error(
            f"{p!r} is not of type 'object'", "type",
            "schema['properties']['params']", props["params"], "instance['params']", p,
        )
    if "action" not in req:
        raise _schema_error(
            "'action' is a required property", "required", "schema", REQUEST_SCHEMA, "instance", req
        )


class Profiles:
    """Anki's profile manager, reduced to what AnkiConnect sees: folders under a base."""

    def __init__(self, base):
        self.base = os.path.abspath(base)
        os.makedirs(self.base, exist_ok=True)
        self.name = None
        self.col = None

    def profiles(self):
        names = []
        for entry in sorted(os.listdir(self.base)):
            if os.path.isfile(os.path.join(self.base, entry, COLLECTION_FILE)):
                names.append(entry)
        if self.name is not None and self.name not in names:
            names.append(self.name)
        return names

    def create(self, name):
        os.makedirs(os.path.join(self.base, name), exist_ok=True)

    def load(self, name):
        self.unload()
        folder = os.path.join(self.base, name)
        os.makedirs(folder, exist_ok=True)
        self.col = Collection(os.path.join(folder, COLLECTION_FILE))
        self.name = name

    def unload(self):
        if self.col is not None:
            self.col.close()
        self.col = None
        self.name = None

    # The profile's stored sync login, as aqt's ProfileManager keeps it.
    def _prefs_path(self):
        return os.path.join(self.base, self.name, PREFS_FILE)

    def prefs(self):
        try:
            with open(self._prefs_path(), encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def save_prefs(self, prefs):
        tmp = self._prefs_path() + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(prefs, f)
        os.replace(tmp, self._prefs_path())

    def sync_auth(self):
        prefs = self.prefs()
        hkey = prefs.get("syncKey")
        if not hkey:
            return None
        endpoint = prefs.get("currentSyncUrl") or prefs.get("customSyncUrl")
        return SyncAuth(hkey=hkey, endpoint=endpoint, io_timeout_secs=60)


class AnkiConnect:
    """The actions. Method names and signatures are the add-on's, so that Python's own
    TypeError texts for bad parameters (`AnkiConnect.x() got an unexpected keyword
    argument 'y'`) come out exactly as the add-on's do."""

    def __init__(self, profiles, api_key):
        self.pm = profiles
        self.api_key = api_key

    # ---------------------------------------------------------------- plumbing

    def handler(self, request):
        name = request.get("action", "")
        version = request.get("version", 4)
        params = request.get("params", {})
        key = request.get("key")
        try:
            if key != self.api_key and name != "requestPermission":
                raise Exception("valid api key must be provided")
            method = None
            if isinstance(name, str) and name and not name.startswith("__"):
                candidate = getattr(self, name, None)
                if candidate is not None and (
                    getattr(candidate, "api", False) or getattr(candidate, "test_api", False)
                ):
                    method = candidate
            if method is None:
                raise Exception("unsupported action")
            result = method(**params)
            if version <= 4:
                return result
            return {"result": result, "error": None}
        except Exception as e:  # every failure becomes the error envelope
            return {"result": None, "error": str(e)}

    def collection(self):
        if self.pm.col is None:
            raise Exception("collection is not available")
        return self.pm.col

    def decks(self):
        return self.collection().decks

    def getModel(self, modelName):
        model = self.collection().models.by_name(modelName)
        if model is None:
            raise Exception("model was not found: {}".format(modelName))
        return model

    def getField(self, model, fieldName):
        field_map = self.collection().models.field_map(model)
        if fieldName not in field_map:
            raise Exception("field was not found in {}: {}".format(model["name"], fieldName))
        return field_map[fieldName][1]

    def getTemplate(self, model, templateName):
        for tmpl in model["tmpls"]:
            if tmpl["name"] == templateName:
                return tmpl
        raise Exception("template was not found in {}: {}".format(model["name"], templateName))

    def getNote(self, note_id):
        try:
            return self.collection().get_note(note_id)
        except NotFoundError:
            raise Exception("Note was not found: {}".format(note_id)) from None

    def getCard(self, card_id):
        try:
            return self.collection().get_card(card_id)
        except NotFoundError:
            raise Exception("Card was not found: {}".format(card_id)) from None

    def createNote(self, note):
        col = self.collection()
        model = col.models.by_name(note["modelName"])
        if model is None:
            raise Exception("model was not found: {}".format(note["modelName"]))
        deck = col.decks.by_name(note["deckName"])
        if deck is None:
            raise Exception("deck was not found: {}".format(note["deckName"]))

        anki_note = Note(col, model)
        anki_note.note_type()["did"] = deck["id"]
        if "tags" in note:
            anki_note.tags = note["tags"]
        # Field names match case-insensitively; unknown names are dropped.
        for name, value in note["fields"].items():
            for anki_name in anki_note.keys():
                if name.lower() == anki_name.lower():
                    anki_note[anki_name] = value
                    break
        self.addMediaFromNote(anki_note, note)

        allow_duplicate = False
        scope = None
        scope_deck = None
        check_children = False
        check_all_models = False
        options = note.get("options")
        if options is not None:
            if "allowDuplicate" in options:
                allow_duplicate = options["allowDuplicate"]
                if type(allow_duplicate) is not bool:
                    raise Exception('option parameter "allowDuplicate" must be boolean')
            if "duplicateScope" in options:
                scope = options["duplicateScope"]
            scope_options = options.get("duplicateScopeOptions")
            if scope_options is not None:
                if "deckName" in scope_options:
                    scope_deck = scope_options["deckName"]
                if "checkChildren" in scope_options:
                    check_children = scope_options["checkChildren"]
                    if type(check_children) is not bool:
                        raise Exception(
                            'option parameter "duplicateScopeOptions.checkChildren" must be boolean'
                        )
                if "checkAllModels" in scope_options:
                    check_all_models = scope_options["checkAllModels"]
                    if type(check_all_models) is not bool:
                        raise Exception(
                            'option parameter "duplicateScopeOptions.checkAllModels" must be boolean'
                        )

        state = self._duplicate_or_empty(
            anki_note, deck, scope, scope_deck, check_children, check_all_models
        )
        if state == 1:
            raise Exception("cannot create note because it is empty")
        if state == 2:
            if allow_duplicate:
                return anki_note
            raise Exception("cannot create note because it is a duplicate")
        if state == 0:
            return anki_note
        raise Exception("cannot create note for unknown reason")

    def _duplicate_or_empty(self, note, deck, scope, scope_deck, check_children, check_all_models):
        """0 fine, 1 first field empty, 2 duplicate, other: Anki's other field-check states."""
        col = self.collection()
        if scope != "deck" and not check_all_models:
            return note.fields_check() or 0
        first = note.fields[0]
        if not first.strip():
            return 1
        csum = anki.utils.field_checksum(first)
        dids = None
        if scope == "deck":
            did = deck["id"]
            if scope_deck is not None:
                other = col.decks.by_name(scope_deck)
                if other is None:
                    return 0
                did = other["id"]
            dids = {did}
            if check_children:
                for _name, child_id in col.decks.children(did):
                    dids.add(child_id)
        query = "select id from notes where csum=?"
        args = [csum]
        if note.id:
            query += " and id!=?"
            args.append(note.id)
        if not check_all_models:
            query += " and mid=?"
            args.append(note.mid)
        for nid in col.db.list(query, *args):
            if dids is None:
                return 2
            for card_did in col.db.list("select did from cards where nid=?", nid):
                if card_did in dids:
                    return 2
        return 0

    def addMediaFromNote(self, anki_note, note):
        for kind in ("audio", "video", "picture"):
            entries = note.get(kind)
            if entries is None:
                continue
            if not isinstance(entries, list):
                entries = [entries]
            for media in entries:
                if media is None:
                    continue
                try:
                    stored = self.storeMediaFile(
                        media["filename"],
                        data=media.get("data"),
                        path=media.get("path"),
                        url=media.get("url"),
                        skipHash=media.get("skipHash"),
                        deleteExisting=media.get("deleteExisting"),
                    )
                    if stored is not None and isinstance(media.get("fields"), list):
                        for field in media["fields"]:
                            if field in anki_note:
                                if kind == "picture":
                                    anki_note[field] += '<img src="{}">'.format(stored)
                                else:
                                    anki_note[field] += "[sound:{}]".format(stored)
                except Exception as e:
                    message = str(e).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                    for field in media.get("fields") or []:
                        if field in anki_note:
                            anki_note[field] += message

    # ------------------------------------------------------ misc and profiles

    @api
    def version(self):
        return API_VERSION

    @api
    def requestPermission(self, origin, allowed):
        if allowed:
            return {
                "permission": "granted",
                "requireApikey": bool(self.api_key),
                "version": API_VERSION,
            }
        return {"permission": "denied"}

    @api
    def getProfiles(self):
        return self.pm.profiles()

    @api
    def getActiveProfile(self):
        return self.pm.name

    @api
    def loadProfile(self, name):
        if name not in self.pm.profiles():
            return False
        if self.pm.name != name:
            self.pm.load(name)
        return True

    @api
    def sync(self):
        auth = self.pm.sync_auth()
        if not auth:
            raise Exception("sync: auth not configured")
        col = self.collection()
        out = col.sync_collection(auth, True)
        accepted = [out.NO_CHANGES, out.NORMAL_SYNC]
        if out.required not in accepted:
            raise Exception(
                f"Sync status {out.required} not one of {accepted} - see "
                f"SyncCollectionResponse.ChangesRequired for list of sync statuses: {SYNC_STATUS_URL}"
            )
        self._remember_endpoint(out.new_endpoint)
        # Anki's Sync button (mw.onSync) then syncs the media; wait for it here so that
        # a caller sees the media on the server once `sync` has answered.
        self._wait_media_sync()

    def _remember_endpoint(self, new_endpoint):
        if new_endpoint:
            prefs = self.pm.prefs()
            prefs["currentSyncUrl"] = new_endpoint
            self.pm.save_prefs(prefs)

    def _wait_media_sync(self):
        col = self.collection()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if not col.media_sync_status().active:
                return
            time.sleep(0.05)
        raise Exception("media sync did not finish within 120 s")

    @api
    def multi(self, actions):
        return list(map(self.handler, actions))

    @api
    def apiReflect(self, scopes=None, actions=None):
        if not isinstance(scopes, list):
            raise Exception("scopes has invalid value")
        if not (actions is None or isinstance(actions, list)):
            raise Exception("actions has invalid value")
        cls = type(self)
        reported = []
        result = {"scopes": reported}
        if "actions" in scopes:
            if actions is None:
                actions = dir(cls)
            names = []
            for name in actions:
                method = getattr(cls, name, None) if isinstance(name, str) else None
                if method is not None and getattr(method, "api", False):
                    names.append(name)
            reported.append("actions")
            result["actions"] = names
        return result

    # ------------------------------------------------------------- test-only

    def _testSyncLogin(self, endpoint, username, password):
        """What Preferences > Syncing > log in does: stores the key and the server."""
        auth = self.collection().sync_login(username, password, endpoint)
        prefs = self.pm.prefs()
        prefs.update(
            syncKey=auth.hkey,
            syncUser=username,
            customSyncUrl=endpoint,
            currentSyncUrl=auth.endpoint or None,
        )
        self.pm.save_prefs(prefs)

    _testSyncLogin.test_api = True

    def _testFullSync(self, upload):
        """What a user's choice of "Upload to AnkiWeb"/"Download from AnkiWeb" does."""
        auth = self.pm.sync_auth()
        if not auth:
            raise Exception("sync: auth not configured")
        col = self.collection()
        col.close_for_full_sync()
        try:
            col.full_upload_or_download(auth=auth, server_usn=None, upload=bool(upload))
        finally:
            col.reopen(after_full_sync=True)
        col.sync_media(auth)
        self._wait_media_sync()

    _testFullSync.test_api = True

    def _testCheckMedia(self):
        """What Tools > Check Media reports (test-only): the files notes use that the media folder lacks,
        and the files no note uses. Like the GUI's it may normalise file names it finds (it trashes nothing),
        so tests call it on the state they check."""
        out = self.collection().media.check()
        return {"missing": sorted(out.missing), "unused": sorted(out.unused)}

    _testCheckMedia.test_api = True

    def _testAnswerCard(self, card, ease=3):
        """A review in Anki's reviewer: the card gains review history (reps, a revlog entry)."""
        col = self.collection()
        c = col.get_card(card)
        c.start_timer()
        col.sched.answerCard(c, ease)

    _testAnswerCard.test_api = True

    def _testSetFieldKeepMod(self, note, field, value):
        """An edit whose modification time does not move: made in the same second as ankiops' write, or
        brought by a sync from a device whose clock carries that time."""
        col = self.collection()
        n = col.get_note(note)
        mod = n.mod
        n[field] = value
        col.update_note(n)
        col.db.execute("update notes set mod = ? where id = ?", mod, note)

    _testSetFieldKeepMod.test_api = True

    # ------------------------------------------------------------------ decks

    @api
    def deckNames(self):
        return [d.name for d in self.decks().all_names_and_ids()]

    @api
    def deckNamesAndIds(self):
        return {name: self.decks().id(name) for name in self.deckNames()}

    @api
    def getDecks(self, cards):
        decks = {}
        for card in cards:
            did = self.collection().db.scalar("select did from cards where id=?", card)
            name = self.decks().get(did)["name"]
            decks.setdefault(name, []).append(card)
        return decks

    @api
    def createDeck(self, deck):
        return self.decks().id(deck)

    @api
    def changeDeck(self, cards, deck):
        col = self.collection()
        did = col.decks.id(deck)
        mod = anki.utils.int_time()
        usn = col.usn()
        col.sched.remFromDyn(cards)
        col.db.execute(
            "update cards set usn=?, mod=?, did=? where id in " + anki.utils.ids2str(cards),
            usn, mod, did,
        )

    @api
    def deleteDecks(self, decks, cardsToo=False):
        if not cardsToo:
            raise Exception(
                "Since Anki 2.1.28 it's not possible to delete decks without deleting cards as well"
            )
        existing = self.deckNames()
        for name in [d for d in decks if d in existing]:
            self.decks().remove([self.decks().id(name)])

    @api
    def deckNameFromId(self, deckId):
        deck = self.decks().get(deckId, default=False)
        if not deck:
            raise Exception("deck was not found: {}".format(deckId))
        return deck["name"]

    # ----------------------------------------------------------------- models

    def save_model(self, model):
        self.collection().models.update_dict(model)

    @api
    def modelNames(self):
        return [m.name for m in self.collection().models.all_names_and_ids()]

    @api
    def modelNamesAndIds(self):
        return {name: int(self.collection().models.by_name(name)["id"]) for name in self.modelNames()}

    @api
    def findModelsById(self, modelIds):
        models = []
        for mid in modelIds:
            model = self.collection().models.get(mid)
            if model is None:
                raise Exception("model was not found: {}".format(mid))
            models.append(model)
        return models

    @api
    def findModelsByName(self, modelNames):
        models = []
        for name in modelNames:
            model = self.collection().models.by_name(name)
            if model is None:
                raise Exception("model was not found: {}".format(name))
            models.append(model)
        return models

    @api
    def modelNameFromId(self, modelId):
        model = self.collection().models.get(modelId)
        if model is None:
            raise Exception("model was not found: {}".format(modelId))
        return model["name"]

    @api
    def modelFieldNames(self, modelName):
        model = self.collection().models.by_name(modelName)
        if model is None:
            raise Exception("model was not found: {}".format(modelName))
        return [f["name"] for f in model["flds"]]

    @api
    def createModel(self, modelName, inOrderFields, cardTemplates, css=None, isCloze=False):
        if len(inOrderFields) == 0:
            raise Exception("Must provide at least one field for inOrderFields")
        if len(cardTemplates) == 0:
            raise Exception("Must provide at least one card for cardTemplates")
        if modelName in self.modelNames():
            raise Exception("Model name already exists")
        mm = self.collection().models
        m = mm.new(modelName)
        if isCloze:
            m["type"] = 1  # MODEL_CLOZE
        for field in inOrderFields:
            mm.add_field(m, mm.new_field(field))
        if css is not None:
            m["css"] = css
        for number, card in enumerate(cardTemplates, start=1):
            name = card["Name"] if "Name" in card else "Card " + str(number)
            t = mm.new_template(name)
            t["qfmt"] = card["Front"]
            t["afmt"] = card["Back"]
            mm.add_template(m, t)
        mm.add(m)
        return m

    @api
    def modelTemplates(self, modelName):
        model = self.collection().models.by_name(modelName)
        if model is None:
            raise Exception("model was not found: {}".format(modelName))
        return {t["name"]: {"Front": t["qfmt"], "Back": t["afmt"]} for t in model["tmpls"]}

    @api
    def modelStyling(self, modelName):
        model = self.collection().models.by_name(modelName)
        if model is None:
            raise Exception("model was not found: {}".format(modelName))
        return {"css": model["css"]}

    @api
    def updateModelTemplates(self, model):
        anki_model = self.collection().models.by_name(model["name"])
        if anki_model is None:
            raise Exception("model was not found: {}".format(model["name"]))
        templates = model["templates"]
        for tmpl in anki_model["tmpls"]:
            wanted = templates.get(tmpl["name"])
            if wanted:
                if wanted.get("Front"):
                    tmpl["qfmt"] = wanted["Front"]
                if wanted.get("Back"):
                    tmpl["afmt"] = wanted["Back"]
        self.save_model(anki_model)

    @api
    def updateModelStyling(self, model):
        anki_model = self.collection().models.by_name(model["name"])
        if anki_model is None:
            raise Exception("model was not found: {}".format(model["name"]))
        anki_model["css"] = model["css"]
        self.save_model(anki_model)

    @api
    def modelTemplateAdd(self, modelName, template):
        mm = self.collection().models
        model = self.getModel(modelName)
        name, qfmt, afmt = template["Name"], template["Front"], template["Back"]
        for tmpl in model["tmpls"]:
            if tmpl["name"] == name:
                tmpl["qfmt"] = qfmt
                tmpl["afmt"] = afmt
                return
        tmpl = mm.new_template(name)
        tmpl["qfmt"] = qfmt
        tmpl["afmt"] = afmt
        mm.add_template(model, tmpl)
        self.save_model(model)

    @api
    def modelTemplateRemove(self, modelName, templateName):
        model = self.getModel(modelName)
        self.collection().models.remove_template(model, self.getTemplate(model, templateName))
        self.save_model(model)

    @api
    def modelTemplateRename(self, modelName, oldTemplateName, newTemplateName):
        model = self.getModel(modelName)
        self.getTemplate(model, oldTemplateName)["name"] = newTemplateName
        self.save_model(model)

    @api
    def modelFieldAdd(self, modelName, fieldName, index=None):
        mm = self.collection().models
        model = self.getModel(modelName)
        if fieldName not in mm.field_map(model):
            mm.add_field(model, mm.new_field(fieldName))
        if index is not None:
            mm.reposition_field(model, mm.field_map(model)[fieldName][1], index)
        self.save_model(model)

    @api
    def modelFieldRemove(self, modelName, fieldName):
        model = self.getModel(modelName)
        self.collection().models.remove_field(model, self.getField(model, fieldName))
        self.save_model(model)

    @api
    def modelFieldRename(self, modelName, oldFieldName, newFieldName):
        model = self.getModel(modelName)
        mm = self.collection().models
        mm.rename_field(model, self.getField(model, oldFieldName), newFieldName)
        self.save_model(model)

    # ------------------------------------------------------------ notes: read

    @api
    def findNotes(self, query=None):
        if query is None:
            return []
        return list(map(int, self.collection().find_notes(query)))

    @api
    def findCards(self, query=None):
        if query is None:
            return []
        return list(map(int, self.collection().find_cards(query)))

    @api
    def notesInfo(self, notes=None, query=None):
        if notes is None and query is None:
            raise Exception('Must provide either "notes" or a "query"')
        if query is not None:
            notes = self.findNotes(query)
        col = self.collection()
        cards_of = {}
        for start in range(0, len(notes), 999):
            batch = notes[start : start + 999]
            rows = col.db.all(
                "select id, nid from cards where nid in ({}) order by ord".format(
                    ",".join("?" * len(batch))
                ),
                *batch,
            )
            for cid, nid in rows:
                cards_of.setdefault(nid, []).append(cid)
        result = []
        for nid in notes:
            try:
                note = col.get_note(nid)
            except NotFoundError:
                result.append({})
                continue
            model = note.note_type()
            fields = {
                f["name"]: {"value": note.fields[f["ord"]], "order": f["ord"]} for f in model["flds"]
            }
            result.append(
                {
                    "noteId": note.id,
                    "profile": self.pm.name,
                    "tags": note.tags,
                    "fields": fields,
                    "modelName": model["name"],
                    "mod": note.mod,
                    "cards": cards_of[nid],
                }
            )
        return result

    @api
    def notesModTime(self, notes):
        result = []
        for nid in notes:
            try:
                note = self.collection().get_note(nid)
            except NotFoundError:
                result.append({})
                continue
            result.append({"noteId": note.id, "mod": note.mod})
        return result

    @api
    def cardsInfo(self, cards):
        col = self.collection()
        result = []
        for cid in cards:
            try:
                card = col.get_card(cid)
            except NotFoundError:
                result.append({})
                continue
            model = card.note_type()
            note = card.note()
            fields = {
                f["name"]: {"value": note.fields[f["ord"]], "order": f["ord"]} for f in model["flds"]
            }
            states = col._backend.get_scheduling_states(card.id)
            next_reviews = col._backend.describe_next_states(states)
            result.append(
                {
                    "cardId": card.id,
                    "fields": fields,
                    "fieldOrder": card.ord,
                    "question": card.question(),
                    "answer": card.answer(),
                    "modelName": model["name"],
                    "ord": card.ord,
                    "deckName": self.deckNameFromId(card.did),
                    "css": model["css"],
                    "factor": card.factor,
                    "interval": card.ivl,
                    "note": card.nid,
                    "type": card.type,
                    "queue": card.queue,
                    "due": card.due,
                    "reps": card.reps,
                    "lapses": card.lapses,
                    "left": card.left,
                    "mod": card.mod,
                    "nextReviews": list(next_reviews),
                    "flags": card.flags,
                }
            )
        return result

    @api
    def cardsModTime(self, cards):
        result = []
        for cid in cards:
            try:
                card = self.collection().get_card(cid)
            except NotFoundError:
                result.append({})
                continue
            result.append({"cardId": card.id, "mod": card.mod})
        return result

    @api
    def cardsToNotes(self, cards):
        return self.collection().db.list(
            "select distinct nid from cards where id in " + anki.utils.ids2str(cards)
        )

    @api
    def getNoteTags(self, note):
        return self.getNote(note).tags

    @api
    def getTags(self):
        return self.collection().tags.all()

    # ----------------------------------------------------------- notes: write

    @api
    def addNote(self, note):
        anki_note = self.createNote(note)
        col = self.collection()
        col.add_note(anki_note, anki_note.note_type()["did"])
        if len(anki_note.cards()) < 1:
            raise Exception(
                "The field values you have provided would make an empty question on all cards."
            )
        return anki_note.id

    @api
    def addNotes(self, notes):
        added = []
        errors = []
        for note in notes:
            try:
                added.append(self.addNote(note))
            except Exception as e:
                errors.append(str(e))
        if errors:
            self.deleteNotes(added)
            raise Exception(str(errors))
        return added

    @api
    def canAddNote(self, note):
        try:
            return bool(self.createNote(note))
        except Exception:
            return False

    @api
    def canAddNoteWithErrorDetail(self, note):
        try:
            return {"canAdd": bool(self.createNote(note))}
        except Exception as e:
            return {"canAdd": False, "error": str(e)}

    @api
    def canAddNotes(self, notes):
        return [self.canAddNote(n) for n in notes]

    @api
    def canAddNotesWithErrorDetail(self, notes):
        return [self.canAddNoteWithErrorDetail(n) for n in notes]

    @api
    def updateNoteFields(self, note):
        anki_note = self.getNote(note["id"])
        # Field names are case-sensitive here; unknown names are ignored.
        for name, value in note["fields"].items():
            if name in anki_note:
                anki_note[name] = value
        self.addMediaFromNote(anki_note, note)
        self.collection().update_note(anki_note, skip_undo_entry=True)

    @api
    def updateNote(self, note):
        updated = False
        if "fields" in note:
            self.updateNoteFields(note)
            updated = True
        if "tags" in note:
            self.updateNoteTags(note["id"], note["tags"])
            updated = True
        if not updated:
            raise Exception('Must provide a "fields" or "tags" property.')

    @api
    def updateNoteModel(self, note):
        note_id = note.get("id")
        if not note_id:
            raise ValueError("Note ID is required")
        model_name = note.get("modelName")
        if not model_name:
            raise ValueError("Model name is required")
        fields = note.get("fields")
        if not fields or not isinstance(fields, dict):
            raise ValueError("Fields must be provided as a dictionary")
        tags = note.get("tags", [])
        anki_note = self.getNote(note_id)
        col = self.collection()
        model = col.models.by_name(model_name)
        if not model:
            raise ValueError(f"Model '{model_name}' not found")
        anki_note.mid = model["id"]
        anki_note._fmap = col.models.field_map(model)
        anki_note.fields = [""] * len(model["flds"])
        for name, value in fields.items():
            for anki_name in anki_note.keys():
                if name.lower() == anki_name.lower():
                    anki_note[anki_name] = value
                    break
        anki_note.tags = tags
        col.update_note(anki_note, skip_undo_entry=True)

    @api
    def updateNoteTags(self, note, tags):
        if type(tags) == str:
            tags = [tags]
        if type(tags) != list or not all(type(t) == str for t in tags):
            raise Exception("Must provide tags as a list of strings")
        # Like the add-on: remove every tag, then add each one, one operation each,
        # so the note's mod moves even when the set is unchanged.
        for old in self.getNoteTags(note):
            self.removeTags([note], old)
        for new in tags:
            self.addTags([note], new)

    @api
    def addTags(self, notes, tags, add=True):
        if add:
            self.collection().tags.bulk_add(notes, tags)
        else:
            self.collection().tags.bulk_remove(notes, tags)

    @api
    def removeTags(self, notes, tags):
        return self.addTags(notes, tags, False)

    @api
    def deleteNotes(self, notes):
        self.collection().remove_notes(notes)

    # ------------------------------------------------------------------ media

    @api
    def storeMediaFile(
        self, filename, data=None, path=None, url=None, skipHash=None, deleteExisting=True
    ):
        if not (data or path or url):
            raise Exception('You must provide a "data", "path", or "url" field.')
        if data:
            content = base64.b64decode(data)
        elif path:
            with open(path, "rb") as f:
                content = f.read()
        else:
            import urllib.request

            with urllib.request.urlopen(url, timeout=10) as resp:
                content = resp.read()
        if skipHash is not None and skipHash == hashlib.md5(content).hexdigest():
            return None
        if deleteExisting:
            self.deleteMediaFile(filename)
        # The legacy writeData (as the add-on calls it) keeps only the base name.
        return self.collection().media.writeData(filename, content)

    @api
    def retrieveMediaFile(self, filename):
        media = self.collection().media
        filename = os.path.basename(filename)
        filename = unicodedata.normalize("NFC", filename)
        filename = media.stripIllegal(filename)
        path = os.path.join(media.dir(), filename)
        if os.path.exists(path):
            with open(path, "rb") as f:
                return base64.b64encode(f.read()).decode("ascii")
        return False

    @api
    def getMediaFilesNames(self, pattern="*"):
        return [
            os.path.basename(p) for p in glob.glob(os.path.join(self.collection().media.dir(), pattern))
        ]

    @api
    def deleteMediaFile(self, filename):
        self.collection().media.trash_files([filename])

    @api
    def getMediaDirPath(self):
        return os.path.abspath(self.collection().media.dir())


# -------------------------------------------------------------------- the wire


def reply_bytes(body, status="200 OK", origin="http://localhost"):
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: application/json\r\n"
        f"Access-Control-Allow-Origin: {origin}\r\n"
        "Access-Control-Allow-Headers: *\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode("utf-8") + body


def origin_allowed(origin):
    if origin is None:
        return True
    for allowed in ("http://localhost", "http://127.0.0.1"):
        if origin == allowed or origin.startswith(allowed + ":"):
            return True
    return False


def read_request(conn):
    """Reads one request: headers up to CRLFCRLF, then exactly Content-Length bytes."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("utf-8", "replace").split("\r\n")
    request_line = lines[0].split(" ")
    method = request_line[0] if request_line else ""
    headers = {}
    for line in lines[1:]:
        if ": " in line:
            k, v = line.split(": ", 1)
            headers[k.lower()] = v
    length = int(headers.get("content-length", "0") or 0)
    while len(body) < length:
        chunk = conn.recv(max(4096, length - len(body)))
        if not chunk:
            break
        body += chunk
    return method, headers, body[:length]


def handle(ac, method, headers, body):
    origin = headers.get("origin")
    if not origin_allowed(origin):
        return None
    if method == "GET" or len(body) == 0:
        return {"apiVersion": "AnkiConnect v.{}".format(API_VERSION)}
    try:
        request = json.loads(body.decode("utf-8"))
        validate_request(request)
    except (ValueError, SchemaError) as e:
        return {"result": None, "error": str(e)}
    if request.get("action") == "requestPermission":
        params = dict(request.get("params", {}))
        params["origin"] = origin or ""
        params["allowed"] = True
        request = dict(request, params=params)
    return ac.handler(request)


def serve(ac, port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(5)
    print("listening on http://127.0.0.1:{}".format(sock.getsockname()[1]), flush=True)
    while True:
        conn, _ = sock.accept()
        try:
            # A client that connects and sends nothing must not stall the server for long.
            conn.settimeout(30)
            req = read_request(conn)
            if req is None:
                continue
            method, headers, body = req
            try:
                reply = handle(ac, method, headers, body)
            except Exception as e:  # never let one request take the server down
                reply = {"result": None, "error": str(e)}
            if reply is None:
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            else:
                origin = headers.get("origin") or "http://localhost"
                conn.sendall(reply_bytes(json.dumps(reply).encode("utf-8"), origin=origin))
        except OSError as e:
            print("connection error: {}".format(e), file=sys.stderr, flush=True)
        finally:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()


def main():
    parser = argparse.ArgumentParser(description="AnkiConnect-protocol server on the anki package")
    parser.add_argument("--base", required=True, help="folder with one folder per profile")
    parser.add_argument("--profile", default="User 1", help="profile to open (default: User 1)")
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--api-key", default=None, help="require this apiKey on every request")
    args = parser.parse_args()

    # Like aqt at start-up: the UI language, which also backs anki.utils' HTML stripping.
    anki.lang.set_lang("en_US")
    profiles = Profiles(args.base)
    profiles.load(args.profile)
    ac = AnkiConnect(profiles, args.api_key or None)

    def stop(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        serve(ac, args.port)
    except KeyboardInterrupt:
        pass
    finally:
        profiles.unload()


if __name__ == "__main__":
    main()
