// The ferry HTTP API as the dashboard calls it: every call carries the
// API key kept in this tab's sessionStorage (never localStorage, never a
// cookie), and every route called is one of schemas/openapi.yaml.
const KEY = "ferry.apiKey";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export const key = {
  get: () => sessionStorage.getItem(KEY),
  set: (k) => sessionStorage.setItem(KEY, k),
  clear: () => sessionStorage.removeItem(KEY),
};

// Called with the ApiError of a 401: the app signs out.
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

async function call(method, path, body, apiKey) {
  const headers = { Authorization: "Bearer " + (apiKey ?? key.get() ?? "") };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  if (!r.ok) {
    let e = { code: "http_" + r.status, message: r.statusText, details: null };
    try {
      e = (await r.json()).error ?? e;
    } catch (_) {
      /* not JSON: keep the status line */
    }
    const err = new ApiError(r.status, e.code, e.message, e.details);
    if (r.status === 401 && apiKey === undefined) onUnauthorized(err);
    throw err;
  }
  return r;
}

export const api = {
  json: async (method, path, body, apiKey) => (await call(method, path, body, apiKey)).json(),
  get: (path, apiKey) => api.json("GET", path, undefined, apiKey),
  // A stored file (a screenshot) as an object URL the page can show: GET
  // /v1/files needs the key, which an <img src> cannot send.
  blobUrl: async (path) => URL.createObjectURL(await (await call("GET", path)).blob()),
};

// The path and query of a `next` link (the API answers absolute or relative
// URLs; the page stays on its own origin).
export function pathOf(link) {
  const u = new URL(link, location.origin);
  return u.pathname + u.search;
}
