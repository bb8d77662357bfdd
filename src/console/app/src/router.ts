import { useEffect, useState } from 'preact/hooks'
import { APP_ROOT } from './api.ts'

/**
 * Routes are paths below the app root (`twins/elevator/e-12`,
 * `twins?type=elevator&state=fault`), so every view has a deep link that
 * works behind any path prefix. Nothing secret ever goes in them.
 */
export interface Location {
  /** path below the app root, no leading slash, decoded per segment */
  segments: string[]
  query: URLSearchParams
  /** the path as written (for comparisons) */
  path: string
}

const listeners = new Set<() => void>()

export function currentLocation(): Location {
  const rel = location.pathname.startsWith(APP_ROOT.pathname) ? location.pathname.slice(APP_ROOT.pathname.length) : ''
  const segments = rel.split('/').filter(Boolean).map((s) => {
    try {
      return decodeURIComponent(s)
    } catch {
      return s
    }
  })
  return { segments, query: new URLSearchParams(location.search), path: rel + location.search }
}

export function href(rel: string): string {
  return new URL(rel, APP_ROOT).href
}

export function navigate(rel: string, replace = false): void {
  const url = href(rel)
  if (replace) history.replaceState(null, '', url)
  else history.pushState(null, '', url)
  for (const l of listeners) l()
}

addEventListener('popstate', () => {
  for (const l of listeners) l()
})

export function useLocation(): Location {
  const [loc, setLoc] = useState(currentLocation)
  useEffect(() => {
    const update = () => setLoc(currentLocation())
    listeners.add(update)
    return () => void listeners.delete(update)
  }, [])
  return loc
}

/** A link within the console: a real href (open in a new tab works), navigation without reload. */
export function onLinkClick(rel: string) {
  return (e: MouseEvent) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return
    e.preventDefault()
    navigate(rel)
  }
}
