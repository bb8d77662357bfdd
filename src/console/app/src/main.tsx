import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { api, ApiError, onUnauthorized, tokenStore } from './api.ts'
import { closeLive, liveClient } from './live.ts'
import { hasScope, type Principal } from './model.ts'
import { href, navigate, onLinkClick, useLocation, type Location } from './router.ts'
import { LiveIndicator } from './views/LiveIndicator.tsx'
import { SignIn } from './views/SignIn.tsx'
import { Overview } from './views/Overview.tsx'
import { TwinList } from './views/TwinList.tsx'
import { TwinPage } from './views/TwinPage.tsx'
import { EventsFeed } from './views/EventsFeed.tsx'
import { DeadLetters } from './views/DeadLetters.tsx'
import { Cluster } from './views/Cluster.tsx'
import { Rules } from './views/Rules.tsx'

type Session =
  | { state: 'checking' }
  | { state: 'signed-out'; message?: string }
  | { state: 'signed-in'; principal: Principal }

function App() {
  const loc = useLocation()
  const [session, setSession] = useState<Session>({ state: 'checking' })

  const check = async () => {
    try {
      const principal = await api<Principal>('whoami', { token: tokenStore.get() ?? undefined })
      setSession({ state: 'signed-in', principal })
    } catch (err) {
      const e = err as ApiError
      if (e.status === 401) {
        const hadToken = tokenStore.get() !== null
        tokenStore.clear()
        setSession({ state: 'signed-out', message: hadToken ? e.message : undefined })
      } else if (e.missingRoute) {
        setSession({ state: 'signed-out', message: 'This engine does not serve GET /whoami; the console needs a newer engine.' })
      } else {
        setSession({ state: 'signed-out', message: e.message })
      }
    }
  }

  useEffect(() => {
    void check()
    // A wrong or expired token anywhere: back to sign-in with the engine's message.
    return onUnauthorized((e) => {
      tokenStore.clear()
      closeLive()
      setSession({ state: 'signed-out', message: e.message })
    })
  }, [])

  if (session.state === 'checking') return <p class="boot">Connecting to the engine…</p>
  if (session.state === 'signed-out') {
    return <SignIn message={session.message} onSignedIn={(principal) => setSession({ state: 'signed-in', principal })} />
  }
  const principal = session.principal
  // One WebSocket for every view, opened once signed in, so the indicator says what the live feed is doing.
  liveClient()
  const signOut = () => {
    tokenStore.clear()
    closeLive()
    setSession({ state: 'signed-out' })
  }
  return (
    <div class="shell">
      {principal.auth === 'open' && (
        <div class="banner open-mode" role="alert">Open access: this engine runs with AUTH=open, so anyone who can reach it may read and change every twin. Local development only.</div>
      )}
      <header class="top">
        <a class="brand" href={href('')} onClick={onLinkClick('')}>twin-engine</a>
        <nav>
          <NavLink loc={loc} to="" label="Overview" />
          <NavLink loc={loc} to="twins" label="Twins" />
          <NavLink loc={loc} to="events" label="Events" />
          <NavLink loc={loc} to="rules" label="Rules" />
          {hasScope(principal, 'admin') && <NavLink loc={loc} to="dead-letters" label="Dead letters" />}
          {hasScope(principal, 'admin') && <NavLink loc={loc} to="cluster" label="Cluster" />}
        </nav>
        <LiveIndicator />
        <span class="who" title="token name and scopes">{principal.name} · {principal.scopes.join(', ')}</span>
        {principal.auth === 'tokens' && <button class="link" onClick={signOut}>Sign out</button>}
      </header>
      <main>
        <Route loc={loc} principal={principal} />
      </main>
    </div>
  )
}

function NavLink({ loc, to, label }: { loc: Location; to: string; label: string }) {
  const current = to === '' ? loc.segments.length === 0 : loc.segments[0] === to
  return <a href={href(to)} onClick={onLinkClick(to)} class={current ? 'current' : ''} aria-current={current ? 'page' : undefined}>{label}</a>
}

function Route({ loc, principal }: { loc: Location; principal: Principal }) {
  const [first, second, third] = loc.segments
  if (!first) return <Overview principal={principal} />
  if (first === 'twins' && second && third) return <TwinPage key={`${second}/${third}`} type={second} id={third} principal={principal} />
  if (first === 'twins') return <TwinList query={loc.query} />
  if (first === 'events') return <EventsFeed query={loc.query} />
  if (first === 'rules') return <Rules />
  if (first === 'dead-letters') return hasScope(principal, 'admin') ? <DeadLetters /> : <NeedsAdmin />
  if (first === 'cluster') return hasScope(principal, 'admin') ? <Cluster /> : <NeedsAdmin />
  return (
    <section>
      <h1>Not found</h1>
      <p>The console has no page here. <a href={href('')} onClick={onLinkClick('')}>Go to the overview</a>.</p>
    </section>
  )
}

function NeedsAdmin() {
  return <section><h1>Needs admin</h1><p>This page needs a token with the admin scope.</p></section>
}

// The first address may carry nothing secret, but drop a stray ?token= someone pasted, so it leaves no history entry.
if (new URLSearchParams(location.search).has('token')) navigate('', true)
render(<App />, document.getElementById('app')!)
