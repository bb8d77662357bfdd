/**
 * HTTP access to the engine's public API (docs/http.md), relative to where the
 * console is served: the app lives at `<prefix>/ui/`, the API at `<prefix>/`,
 * so the console works behind a reverse proxy under any path prefix.
 *
 * The API token is kept in sessionStorage only (never in an address, a
 * history entry or a log line) and sent as `Authorization: Bearer`.
 */

/** `<prefix>/ui/`: the server sets `<base href>` so that this holds on every deep link. */
export const APP_ROOT = new URL('./', document.baseURI)
/** `<prefix>/`: where the HTTP API and `/ws` are. */
export const API_ROOT = new URL('../', APP_ROOT)

const TOKEN_KEY = 'twin-engine.console.token'

export const tokenStore = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (token: string) => sessionStorage.setItem(TOKEN_KEY, token),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
}

/** An answer of the engine other than 2xx, with its stable code and message (docs/errors.md). */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message)
    this.name = 'ApiError'
  }
  /** the route does not exist in this engine (an API the console can use when it is there) */
  get missingRoute(): boolean {
    return this.status === 404 && this.message.startsWith('no route')
  }
}

type Listener = (error: ApiError) => void
const unauthorized = new Set<Listener>()
/** Called with every 401: the token is wrong or expired, the console goes back to sign-in. */
export function onUnauthorized(listener: Listener): () => void {
  unauthorized.add(listener)
  return () => unauthorized.delete(listener)
}

export interface RequestOptions {
  method?: 'GET' | 'POST'
  body?: unknown
  query?: Record<string, string | number | undefined | Array<string>>
  signal?: AbortSignal
  /** a token to try instead of the stored one (sign-in) */
  token?: string
  /** statuses besides 2xx whose body is the answer (GET /health: 503 "degraded" with its problems) */
  accept?: number[]
}

/** `path` is relative to the API root, without a leading slash: `twins/elevator/e-12`. */
export function apiUrl(path: string, query?: RequestOptions['query']): URL {
  const url = new URL(path, API_ROOT)
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === '') continue
    for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(key, String(item))
  }
  return url
}

export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' }
  const token = options.token ?? tokenStore.get()
  if (token) headers.authorization = `Bearer ${token}`
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  let res: Response
  const sentAt = Date.now()
  try {
    res = await fetch(apiUrl(path, options.query), {
      method: options.method ?? 'GET',
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      cache: 'no-store',
      signal: options.signal,
    })
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err
    throw new ApiError(0, 'NETWORK', `the engine did not answer (${(err as Error).message}); is it running?`)
  }
  noteServerClock(res, sentAt)
  const text = await res.text()
  let body: any = null
  try {
    body = text ? JSON.parse(text) : null
  } catch {
    body = text
  }
  if (!res.ok && !options.accept?.includes(res.status)) {
    const e = body?.error
    const error = new ApiError(res.status, typeof e?.code === 'string' ? e.code : `HTTP_${res.status}`, typeof e?.message === 'string' ? e.message : String(text).slice(0, 300))
    if (res.status === 401 && options.token === undefined) for (const l of unauthorized) l(error)
    throw error
  }
  return body as T
}

/** One path segment: twin types and ids are URL-safe, but never trust that. */
export const seg = (s: string) => encodeURIComponent(s)

/**
 * How far the engine's clock is ahead of this browser's, in ms, from the
 * `Date` header of its answers (1 s resolution, so offsets under 2 s count
 * as none). Timers are due in the engine's time: "fires in 2 min" must not
 * depend on the operator's laptop clock.
 */
let serverClockOffset = 0
function noteServerClock(res: Response, sentAt: number): void {
  const date = Date.parse(res.headers.get('date') ?? '')
  if (Number.isNaN(date)) return
  const offset = date + 500 - (sentAt + Date.now()) / 2
  serverClockOffset = Math.abs(offset) < 2000 ? 0 : Math.round(offset)
}
/** Now, on the engine's clock (as far as its answers tell). */
export const serverNow = (): number => Date.now() + serverClockOffset
