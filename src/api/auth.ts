import { timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { TwinError } from '../errors.ts'
import { sha256 } from '../secrets.ts'

/**
 * API tokens and their scopes (docs/adr/0007-api-auth-and-scopes.md).
 *
 * Scopes are ordered: `admin` implies `write` implies `read`. Tokens come from
 * `API_TOKENS` (`token:scope+scope,…`) and `API_TOKENS_FILE` (JSON, plain or
 * sha256-hashed). Only the SHA-256 of each token is kept in memory, and a
 * presented token is hashed and compared with every known hash in constant
 * time, so neither timing nor an early exit says how much of it matched.
 * No error message here ever contains a token.
 */
export const scopes = ['read', 'write', 'admin'] as const
export type Scope = (typeof scopes)[number]

/** Who made a request: the token's name (never the token) and its scopes. */
export interface Principal {
  name: string
  scopes: ReadonlySet<Scope>
}

interface KnownToken extends Principal {
  sha256: Buffer
}

export interface ApiAuth {
  readonly mode: 'tokens' | 'open'
  /** The principal a presented token stands for, or null for a missing or unknown one. */
  identify(token: string | undefined): Principal | null
}

/** `AUTH=open`: everyone may do everything (local development). */
export const OPEN_PRINCIPAL: Principal = { name: 'open', scopes: new Set(scopes) }

export const openAuth: ApiAuth = { mode: 'open', identify: () => OPEN_PRINCIPAL }

/** A token shorter than this is refused at start: it could be guessed. */
const MIN_TOKEN_LENGTH = 8
const TOKEN_PATTERN = /^[\x21-\x7e]+$/

/** The scopes a granted list stands for (admin -> write -> read). */
export function expandScopes(granted: readonly string[], where: string): Set<Scope> {
  const out = new Set<Scope>()
  for (const scope of granted) {
    const rank = scopes.indexOf(scope as Scope)
    if (rank < 0) throw new TwinError('TWIN_ERR_CONFIG', `${where}: unknown scope "${String(scope).slice(0, 32)}"; expected read, write or admin`)
    for (let i = 0; i <= rank; i++) out.add(scopes[i]!)
  }
  if (out.size === 0) throw new TwinError('TWIN_ERR_CONFIG', `${where}: a token needs at least one scope (read, write, admin)`)
  return out
}

/** `API_TOKENS`: `s3cr3t:read+write,adm1n:admin`. Entries are named `env-1`, `env-2`, … in logs. */
export function parseTokenList(raw: string): KnownToken[] {
  return raw
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry, i) => {
      const name = `env-${i + 1}`
      const colon = entry.lastIndexOf(':')
      if (colon <= 0) throw new TwinError('TWIN_ERR_CONFIG', `API_TOKENS entry ${i + 1}: expected token:scope+scope (e.g. s3cr3t:read+write)`)
      const token = entry.slice(0, colon)
      checkToken(token, `API_TOKENS entry ${i + 1}`)
      return { name, sha256: sha256(token), scopes: expandScopes(entry.slice(colon + 1).split('+'), `API_TOKENS entry ${i + 1}`) }
    })
}

/** `API_TOKENS_FILE`: `[{ "token": "…" | "sha256": "<64 hex>", "scopes": ["read"], "name": "dashboard" }]`. */
export function parseTokenFile(text: string, file: string): KnownToken[] {
  let list: unknown
  try {
    list = JSON.parse(text)
  } catch (err) {
    throw new TwinError('TWIN_ERR_CONFIG', `API_TOKENS_FILE ${file} is not JSON: ${(err as Error).message}`)
  }
  if (!Array.isArray(list)) throw new TwinError('TWIN_ERR_CONFIG', `API_TOKENS_FILE ${file} must hold a JSON array of { token or sha256, scopes, name }`)
  return list.map((item: Record<string, unknown>, i) => {
    const where = `API_TOKENS_FILE ${file} entry ${i + 1}`
    if (!item || typeof item !== 'object') throw new TwinError('TWIN_ERR_CONFIG', `${where}: expected an object`)
    const name = typeof item.name === 'string' && item.name ? item.name.slice(0, 64) : `file-${i + 1}`
    if (!Array.isArray(item.scopes)) throw new TwinError('TWIN_ERR_CONFIG', `${where}: "scopes" must be an array of read, write, admin`)
    let hash: Buffer
    if (typeof item.token === 'string') {
      checkToken(item.token, where)
      hash = sha256(item.token)
    } else if (typeof item.sha256 === 'string' && /^[0-9a-f]{64}$/i.test(item.sha256)) {
      hash = Buffer.from(item.sha256, 'hex')
    } else {
      throw new TwinError('TWIN_ERR_CONFIG', `${where}: needs "token" or "sha256" (64 hex digits: echo -n TOKEN | sha256sum)`)
    }
    return { name, sha256: hash, scopes: expandScopes(item.scopes as string[], where) }
  })
}

function checkToken(token: string, where: string): void {
  if (token.length < MIN_TOKEN_LENGTH || !TOKEN_PATTERN.test(token)) {
    throw new TwinError('TWIN_ERR_CONFIG', `${where}: a token must be at least ${MIN_TOKEN_LENGTH} printable ASCII characters without spaces`)
  }
}

/** Token-based access over a fixed list of known tokens. */
export class TokenAuth implements ApiAuth {
  readonly mode = 'tokens' as const
  private readonly tokens: readonly KnownToken[]

  constructor(tokens: readonly KnownToken[]) {
    this.tokens = tokens
  }

  get size(): number {
    return this.tokens.length
  }

  identify(token: string | undefined): Principal | null {
    if (!token || token.length > 4096) return null
    const presented = sha256(token)
    let found: KnownToken | null = null
    // Every hash is compared, whatever matched before: the time does not depend on which token it is.
    for (const known of this.tokens) {
      if (timingSafeEqual(presented, known.sha256) && !found) found = known
    }
    return found && { name: found.name, scopes: found.scopes }
  }
}

/**
 * The access policy from the settings. `AUTH=tokens` with no token configured
 * is a configuration error: an engine never ends up open by accident.
 */
export function loadApiAuth(config: { auth: 'tokens' | 'open'; apiTokens?: string; apiTokensFile?: string }): ApiAuth {
  if (config.auth === 'open') return openAuth
  const tokens = config.apiTokens ? parseTokenList(config.apiTokens) : []
  if (config.apiTokensFile) {
    let text: string
    try {
      text = readFileSync(config.apiTokensFile, 'utf8')
    } catch (err) {
      throw new TwinError('TWIN_ERR_CONFIG', `cannot read API_TOKENS_FILE ${config.apiTokensFile}: ${(err as Error).message}`)
    }
    tokens.push(...parseTokenFile(text, config.apiTokensFile))
  }
  if (tokens.length === 0) {
    throw new TwinError('TWIN_ERR_CONFIG', 'AUTH=tokens but no API token is configured: set API_TOKENS (e.g. s3cr3t:read+write,adm1n:admin) or API_TOKENS_FILE, or AUTH=open (--auth open) for local development')
  }
  return new TokenAuth(tokens)
}

/** The token a request presents: `Authorization: Bearer <token>`, or `?token=` where allowed (WebSocket upgrade). */
export function presentedToken(authorization: string | undefined, queryToken: unknown): string | undefined {
  if (typeof authorization === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization)
    return m ? m[1] : undefined
  }
  return typeof queryToken === 'string' && queryToken ? queryToken : undefined
}
