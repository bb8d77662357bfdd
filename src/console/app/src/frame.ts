import { useCallback, useEffect, useRef, useState } from 'preact/hooks'

/**
 * Conflation per animation frame: live data goes into mutable holders as it
 * arrives (1,000 changes/s or more), and the view re-renders at most once per
 * frame with whatever is newest. A hidden tab gets no frames, so nothing piles
 * up: the holders keep only the latest state.
 */
export function useFrameRender(): () => void {
  const [, setTick] = useState(0)
  const pending = useRef(false)
  const alive = useRef(true)
  useEffect(() => () => void (alive.current = false), [])
  return useCallback(() => {
    if (pending.current) return
    pending.current = true
    requestAnimationFrame(() => {
      pending.current = false
      if (alive.current) setTick((n) => (n + 1) | 0)
    })
  }, [])
}

/** A bounded buffer: the newest `capacity` items, newest first when read. */
export class Ring<T> {
  private items: T[] = []
  private start = 0
  total = 0
  constructor(readonly capacity: number) {}
  push(item: T): void {
    this.total++
    if (this.items.length < this.capacity) this.items.push(item)
    else {
      this.items[this.start] = item
      this.start = (this.start + 1) % this.capacity
    }
  }
  newestFirst(): T[] {
    const out: T[] = []
    for (let i = this.items.length - 1; i >= 0; i--) out.push(this.items[(this.start + i) % this.items.length]!)
    return out
  }
  get size(): number {
    return this.items.length
  }
  clear(): void {
    this.items = []
    this.start = 0
  }
}

/** Calls `fn` now and every `ms` while mounted (and the tab is visible); re-run when deps change. */
export function usePoll(fn: () => void | Promise<void>, ms: number, deps: unknown[]): void {
  useEffect(() => {
    let stopped = false
    let timer: ReturnType<typeof setTimeout>
    const tick = async () => {
      if (stopped) return
      if (document.visibilityState !== 'hidden') {
        try {
          await fn()
        } catch {
          // the view shows its own error state
        }
      }
      if (!stopped) timer = setTimeout(tick, ms)
    }
    void tick()
    return () => {
      stopped = true
      clearTimeout(timer)
    }
  }, deps)
}
