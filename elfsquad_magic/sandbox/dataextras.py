"""The Data API's extras that the Power Automate connector calls: ``{Set}/$schema`` and
``$patch-schema`` (JSON Schema of an entity), ``$functions`` and ``$triggers`` (what can be called
and subscribed to), and ``Quotations({id})/Default.GenerateDocument(...)`` (a PDF)."""

from __future__ import annotations

import base64
import re
import uuid
from urllib.parse import quote, unquote

import orjson

from .metadata import EntitySetSpec, ServiceSpec
from .pdf import small_pdf
from .query import ODataError, bad_request
from .store import Store, column

_FUNCTION = re.compile(
    r"^(?:Default\.)?GenerateDocument\((?P<args>.*)\)$", re.IGNORECASE | re.DOTALL
)
PDF_TYPE = "application/pdf"
_JSON_TYPES = {
    "Edm.Guid": {"type": "string", "format": "uuid"},
    "Edm.DateTimeOffset": {"type": "string", "format": "date-time"},
    "Edm.Date": {"type": "string", "format": "date"},
    "Edm.Decimal": {"type": "number", "format": "decimal"},
    "Edm.Double": {"type": "number", "format": "double"},
    "Edm.Int32": {"type": "integer", "format": "int32"},
    "Edm.Int64": {"type": "integer", "format": "int64"},
    "Edm.Boolean": {"type": "boolean"},
    "Edm.String": {"type": "string"},
}
GENERATE_DOCUMENT = {
    "name": "Default.GenerateDocument",
    "entitySet": "Quotations",
    "isBound": True,
    "parameters": [
        {"name": "type", "type": "Edm.String"},
        {"name": "languageIso", "type": "Edm.String"},
        {"name": "quotationTemplateId", "type": "Edm.Guid"},
    ],
    "returnType": "Edm.Stream",
}
# Webhook topics (Elfsquad's docs and the connector's triggers).
TOPICS = [
    "quotation.requested",
    "quotation.submitted",
    "quotation.accepted",
    "quotation.revisionmade",
    "quotation.verified",
    "quotation.configurationadded",
    "quotation.copied",
]


def json_schema(spec: EntitySetSpec, patch: bool = False) -> dict:
    """The entity's JSON Schema; ``patch``: the writable properties, none required."""
    props = {}
    for name, edm in spec.properties.items():
        if patch and name in (spec.key, "createdDate", "updatedDate", "creatorId"):
            continue
        if edm.startswith("Collection("):
            inner = _JSON_TYPES.get(edm[len("Collection(") : -1], {})
            schema = {"type": "array", "items": dict(inner)}
        else:
            schema = dict(_JSON_TYPES.get(edm, {}))
        if name != spec.key:
            schema["nullable"] = True
        props[name] = schema
    doc = {"title": spec.entity_type, "type": "object", "properties": props}
    if not patch:
        doc["required"] = [spec.key]
    return doc


def functions_document(base_url: str) -> dict:
    """``$functions``: the functions the Data API offers."""
    return {"@odata.context": f"{base_url}/data/1/$metadata", "value": [GENERATE_DOCUMENT]}


def triggers_document(base_url: str) -> dict:
    """``$triggers``: the webhook topics a flow can subscribe to."""
    return {
        "@odata.context": f"{base_url}/data/1/$metadata",
        "value": [{"name": topic, "method": "POST", "path": "/api/2/webhooks"} for topic in TOPICS],
    }


def is_function_call(segment: str) -> bool:
    """Whether a path segment calls ``GenerateDocument`` (qualified or not)."""
    return bool(_FUNCTION.match(segment))


def _arguments(segment: str) -> dict[str, str | None]:
    args: dict[str, str | None] = {}
    text = _FUNCTION.match(segment).group("args")  # type: ignore[union-attr]
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise bad_request(f"The function parameter '{part}' has no value.")
        value = unquote(value.strip())
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1].replace("''", "'")
        args[name.strip()] = None if value == "null" else value
    return args


def generate_document(
    service: ServiceSpec, store: Store, key: object, segment: str
) -> tuple[bytes, str] | None:
    """``Quotations({id})/Default.GenerateDocument(type=,languageIso=,quotationTemplateId=)``:
    the quotation as a PDF (its number, version, subject and lines) and a file name; ``None``
    when the quotation does not exist. The template and type are accepted, not used."""
    args = _arguments(segment)
    unknown = set(args) - {"type", "languageIso", "quotationTemplateId"}
    if unknown:
        raise bad_request(f"GenerateDocument has no parameter '{sorted(unknown)[0]}'.")
    return quotation_pdf(service, store, key)


def quotation_pdf(service: ServiceSpec, store: Store, key: object) -> tuple[bytes, str] | None:
    """A quotation's PDF and file name (``None`` when there is no such quotation)."""
    spec = service.sets["Quotations"]
    raw = store.get(spec, key)
    if raw is None:
        return None
    quotation = orjson.loads(raw)
    lines_spec = service.sets["QuotationLines"]
    rows = [
        orjson.loads(r)
        for r in store.select_json(
            lines_spec, f"{column('quotationId')} = :q", {"q": key}, column("lineNumber")
        )
    ]
    text = [
        f"{r['lineNumber']}. {r['description'] or ''}  {r['quantity']:g} x {r['unitPrice']:.2f}"
        for r in rows
    ]
    text.append(f"Total excl. VAT: {quotation['currencyIso']} {quotation['totalPrice']:.2f}")
    title = (
        f"Quotation {quotation['quotationNumber']} v{quotation['versionNumber']}: "
        f"{quotation['subject'] or ''}"
    )
    name = f"{quotation['quotationNumber']}-{quotation['versionNumber']}.pdf"
    return small_pdf(title, text), name


class Functions:
    """``PUT $functions/GenerateDocument``, ``AttachDocument`` and ``DownloadFile``, as the
    Power Automate connector calls them (PascalCase bodies, JSON answers with base64 content).
    Attached documents are ``FileEntities`` and ``QuotationFiles`` rows; their bytes stay in
    memory, where ``DownloadFile`` finds them by URL."""

    def __init__(self, service: ServiceSpec, store: Store) -> None:
        self.service, self.store = service, store
        self.files: dict[str, tuple[str, bytes]] = {}  # url -> (name, content)

    def call(self, name: str, body: object, base_url: str) -> dict:
        """Run one function; 400/404 OData errors as the Data API gives them."""
        if not isinstance(body, dict):
            raise bad_request("Send a JSON object.")
        action = {
            "generatedocument": self.generate,
            "attachdocument": self.attach,
            "downloadfile": self.download,
        }.get(name.lower())
        if action is None:
            raise ODataError(404, "NotFound", f"The function '{name}' does not exist.")
        return action(body, base_url)

    def _pdf(self, body: dict) -> tuple[bytes, str]:
        from .values import normalize_guid

        try:
            key = normalize_guid(str(body.get("QuotationId")))
        except ValueError:
            raise bad_request("QuotationId must be a quotation's id.") from None
        made = quotation_pdf(self.service, self.store, key)
        if made is None:
            raise ODataError(404, "NotFound", f"No Quotation with key '{key}' exists.")
        return made

    def generate(self, body: dict, base_url: str) -> dict:
        content, name = self._pdf(body)
        return {
            "FileName": name,
            "ContentType": PDF_TYPE,
            "Content": base64.b64encode(content).decode(),
        }

    def attach(self, body: dict, base_url: str) -> dict:
        from .values import EMPTY_DATE, utc_now_text

        content, name = self._pdf(body)
        name = str(body.get("FileName") or name)
        file_id, now = str(uuid.uuid4()), utc_now_text()
        url = f"{base_url}/files/{file_id}/{quote(name)}"
        stamp = {"createdDate": now, "updatedDate": EMPTY_DATE}
        entity = {
            **dict.fromkeys(self.service.sets["FileEntities"].properties),
            **stamp,
            "id": file_id,
            "name": name,
            "url": url,
        }
        link = {
            **dict.fromkeys(self.service.sets["QuotationFiles"].properties),
            **stamp,
            "id": str(uuid.uuid4()),
            "quotationId": body["QuotationId"].lower(),
            "fileId": file_id,
        }
        self.store.insert(self.service.sets["FileEntities"], [entity])
        self.store.insert(self.service.sets["QuotationFiles"], [link])
        self.files[url] = (name, content)
        return {"FileName": name, "Url": url, "FileId": file_id, "QuotationId": link["quotationId"]}

    def download(self, body: dict, base_url: str) -> dict:
        url = str(body.get("Url") or "")
        if url not in self.files:
            raise ODataError(404, "NotFound", f"No file at '{url}' in this sandbox.")
        name, content = self.files[url]
        return {
            "FileName": name,
            "ContentType": PDF_TYPE,
            "Content": base64.b64encode(content).decode(),
        }


__all__ = [
    "GENERATE_DOCUMENT",
    "Functions",
    "TOPICS",
    "functions_document",
    "generate_document",
    "is_function_call",
    "json_schema",
    "triggers_document",
]
