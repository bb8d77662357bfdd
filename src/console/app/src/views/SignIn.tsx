import { useState } from 'preact/hooks'
import { api, ApiError, tokenStore } from '../api.ts'
import type { Principal } from '../model.ts'

/**
 * Sign-in with an API token. The token is kept in sessionStorage (gone when
 * the tab closes) and sent only in the Authorization header.
 */
export function SignIn({ message, onSignedIn }: { message?: string; onSignedIn: (p: Principal) => void }) {
  const [token, setToken] = useState('')
  const [error, setError] = useState<string | undefined>(message)
  const [busy, setBusy] = useState(false)

  const submit = async (e: Event) => {
    e.preventDefault()
    const presented = token.trim()
    if (!presented) return setError('Enter an API token.')
    setBusy(true)
    try {
      const principal = await api<Principal>('whoami', { token: presented })
      tokenStore.set(presented)
      setToken('')
      onSignedIn(principal)
    } catch (err) {
      setError((err as ApiError).message)
    } finally {
      setBusy(false)
    }
  }

  return (
    <section class="sign-in">
      <h1>twin-engine console</h1>
      <form onSubmit={submit} autocomplete="off">
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="off" spellcheck={false} value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} />
        <button type="submit" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
      {error && <p class="error" role="alert" data-testid="sign-in-error">{error}</p>}
      <p class="hint">A token from API_TOKENS or API_TOKENS_FILE. It stays in this tab's session storage and is sent only in the Authorization header.</p>
    </section>
  )
}
