"""A local stand-in for a CKAN portal's Action API, for the calls Crosswalk makes.

A real CKAN needs Solr, Redis and its own PostgreSQL and cannot run on these machines. This speaks
the same wire protocol as CKAN 2.10/2.11 for ``package_show`` (with ``include_tracking``),
``package_create``, ``package_patch``, ``resource_create`` and ``resource_patch`` (JSON or multipart
with an ``upload``), ``datastore_create`` and ``datastore_upsert``, and refuses what CKAN refuses:
no or a wrong API token on a write (Authorization Error), missing or malformed fields, unknown
organisations, packages or resources, a DataStore record with a field the table lacks or no primary
key on an upsert (Validation Error), unknown actions (400). Responses use CKAN's envelope
(``{"success": ..., "result"|"error": ...}``), so ``ckanapi`` maps them to its own exceptions.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = re.compile(r"^[a-z0-9_-]{2,100}$")
CKAN_TOKEN = "ckan-test-token"  # the API token the stand-in accepts in tests


class ActionError(Exception):
    def __init__(self, status: int, kind: str, message: str = "", **fields):
        super().__init__(message)
        self.status, self.kind, self.fields = status, kind, fields


def _validation(**fields) -> ActionError:
    return ActionError(409, "Validation Error", "", **fields)


class CkanStandIn:
    def __init__(self, token: str, organizations: tuple[str, ...] = ("northshire-hscp",)):
        self.token = token
        self.organizations = set(organizations)
        self.packages: dict[str, dict] = {}  # id -> package
        self.files: dict[str, bytes] = {}  # resource id -> uploaded bytes
        self.datastore: dict[str, dict] = {}  # resource id -> {"fields", "primary_key", "records"}
        self.calls: list[str] = []
        self.tracking: dict[str, int] = {}  # package name -> views, set by a test
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- actions -------------------------------------------------------------------------------

    def _package(self, ref: str) -> dict:
        for p in self.packages.values():
            if ref in (p["id"], p["name"]):
                return p
        raise ActionError(404, "Not Found Error", "Not found: Dataset not found")

    def _resource(self, ref: str) -> tuple[dict, dict]:
        for p in self.packages.values():
            for r in p["resources"]:
                if r["id"] == ref:
                    return p, r
        raise ActionError(404, "Not Found Error", "Not found: Resource was not found.")

    def package_show(self, d: dict, authed: bool) -> dict:
        p = json.loads(json.dumps(self._package(str(d.get("id", "")))))
        if d.get("include_tracking") in (True, "true", "True"):
            views = self.tracking.get(p["name"], 0)
            p["tracking_summary"] = {"total": views, "recent": views}
            for r in p["resources"]:
                r["tracking_summary"] = {"total": views // 2, "recent": views // 2}
        return p

    def _check_package_fields(self, d: dict) -> None:
        errors = {}
        if "title" in d and not isinstance(d["title"], str):
            errors["title"] = ["Must be a string"]
        if "owner_org" in d and d["owner_org"] not in self.organizations:
            errors["owner_org"] = ["Organization does not exist"]
        extras = d.get("extras", [])
        if not isinstance(extras, list) or not all(isinstance(e, dict) and {"key", "value"} <= set(e) for e in extras):
            errors["extras"] = ["Extras must be a list of {key, value}"]
        if errors:
            raise _validation(**errors)

    def package_create(self, d: dict, authed: bool) -> dict:
        self._write(authed)
        name = d.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise _validation(name=["Must be purely lowercase alphanumeric (ascii) characters and these symbols: -_"])
        if any(p["name"] == name for p in self.packages.values()):
            raise _validation(name=["That URL is already in use."])
        if "owner_org" not in d:
            raise _validation(owner_org=["Missing value"])
        self._check_package_fields(d)
        p = {"id": str(uuid.uuid4()), "name": name, "resources": [], **{k: v for k, v in d.items() if k != "name"}}
        self.packages[p["id"]] = p
        return p

    def package_patch(self, d: dict, authed: bool) -> dict:
        self._write(authed)
        p = self._package(str(d.get("id", "")))
        self._check_package_fields(d)
        p.update({k: v for k, v in d.items() if k not in ("id", "resources")})
        return p

    def _resource_fields(self, d: dict, upload: bytes | None) -> dict:
        if upload is None and not d.get("url"):
            raise _validation(url=["Missing value: give a url or an upload"])
        if not isinstance(d.get("name", ""), str):
            raise _validation(name=["Must be a string"])
        return {k: v for k, v in d.items() if k not in ("upload", "package_id", "id")}

    def resource_create(self, d: dict, authed: bool, upload: bytes | None = None) -> dict:
        self._write(authed)
        p = self._package(str(d.get("package_id", "")))
        r = {"id": str(uuid.uuid4()), "package_id": p["id"], **self._resource_fields(d, upload)}
        if upload is not None:
            self.files[r["id"]] = upload
            r["url"] = f"/dataset/{p['name']}/resource/{r['id']}/download/{r.get('name', 'file')}"
            r["url_type"], r["size"] = "upload", len(upload)
        p["resources"].append(r)
        return r

    def resource_patch(self, d: dict, authed: bool, upload: bytes | None = None) -> dict:
        self._write(authed)
        _, r = self._resource(str(d.get("id", "")))
        r.update({k: v for k, v in d.items() if k not in ("upload", "id")})
        if upload is not None:
            self.files[r["id"]] = upload
            r["size"] = len(upload)
        return r

    def datastore_create(self, d: dict, authed: bool) -> dict:
        self._write(authed)
        self._resource(str(d.get("resource_id", "")))
        fields = d.get("fields")
        if not isinstance(fields, list) or not all(isinstance(f, dict) and "id" in f for f in fields):
            raise _validation(fields=["fields must be a list of objects with an id"])
        for f in fields:
            if "info" in f and not isinstance(f["info"], dict):
                raise _validation(fields=[f"info of {f['id']} must be an object"])
        pk = d.get("primary_key", [])
        pk = [pk] if isinstance(pk, str) else pk
        if any(k not in {f["id"] for f in fields} for k in pk):
            raise _validation(primary_key=["primary key must be among the fields"])
        table = self.datastore.setdefault(d["resource_id"], {"records": {}})
        table.update(fields=fields, primary_key=pk)
        return {"resource_id": d["resource_id"], "fields": fields, "primary_key": pk}

    def datastore_upsert(self, d: dict, authed: bool) -> dict:
        self._write(authed)
        table = self.datastore.get(str(d.get("resource_id", "")))
        if table is None:
            raise ActionError(404, "Not Found Error", "Not found: Resource has no DataStore table")
        records = d.get("records")
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise _validation(records=["records must be a list of objects"])
        names = {f["id"] for f in table["fields"]}
        method = d.get("method", "upsert")
        if method not in ("upsert", "insert", "update"):
            raise _validation(method=[f"{method!r} is not a method"])
        if method != "insert" and not table["primary_key"]:
            raise _validation(method=["upsert and update need a primary key"])
        for rec in records:
            extra = set(rec) - names
            if extra:
                raise _validation(records=[f"fields not in the table: {sorted(extra)}"])
            key = tuple(rec.get(k) for k in table["primary_key"]) or (len(table["records"]),)
            if method != "insert" and None in key:
                raise _validation(records=["a record lacks its primary key"])
            table["records"][key] = rec
        return {"resource_id": d["resource_id"], "method": method}

    def _write(self, authed: bool) -> None:
        if not authed:
            raise ActionError(403, "Authorization Error", "Access denied: a valid API token is required")

    # --- HTTP ----------------------------------------------------------------------------------

    def handle(self, action: str, headers, body: bytes) -> tuple[int, dict]:
        authed = headers.get("Authorization") == self.token
        upload = None
        ctype = headers.get("Content-Type", "")
        try:
            if ctype.startswith("multipart/form-data"):
                msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                    f"Content-Type: {ctype}\r\n\r\n".encode() + body
                )
                d = {}
                for part in msg.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    if name == "upload":
                        upload = part.get_payload(decode=True)
                    else:
                        d[name] = part.get_payload(decode=True).decode()
            elif body:
                try:
                    d = json.loads(body)
                except ValueError as exc:
                    raise ActionError(400, "Validation Error", "Bad request: JSON body not valid") from exc
                if not isinstance(d, dict):
                    raise ActionError(400, "Validation Error", "Bad request: body must be a JSON object")
            else:
                d = {}
            fn = getattr(self, action, None) if action in ACTIONS else None
            if fn is None:
                raise ActionError(400, "Not Found Error", f"Action name not known: {action}")
            with self._lock:
                self.calls.append(action)
                result = fn(d, authed, upload) if action in ("resource_create", "resource_patch") else fn(d, authed)
            return 200, {"success": True, "result": result}
        except ActionError as exc:
            err = {"__type": exc.kind, "message": str(exc), **exc.fields}
            return exc.status, {"success": False, "error": err}

    def start(self) -> str:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                m = re.match(r"^/api/(?:3/)?action/([a-z_]+)", self.path)
                if not m:
                    self.send_error(404)
                    return
                length = int(self.headers.get("Content-Length", 0))
                status, payload = stand_in.handle(m[1], self.headers, self.rfile.read(length))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET = _serve

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


ACTIONS = {
    "package_show",
    "package_create",
    "package_patch",
    "resource_create",
    "resource_patch",
    "datastore_create",
    "datastore_upsert",
}
