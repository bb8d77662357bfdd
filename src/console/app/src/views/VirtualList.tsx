import type { ComponentChildren } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'

/**
 * A fixed-row-height virtual list: only the rows in view (plus a margin) are
 * in the DOM, so 10,000 rows cost as much as 40. `onRange` reports the rows
 * in view (the twin list subscribes to just those).
 */
export function VirtualList<T>({ items, rowHeight, height, render, onRange, testid }: {
  items: readonly T[]
  rowHeight: number
  height: number
  render: (item: T, index: number) => ComponentChildren
  onRange?: (start: number, end: number) => void
  testid?: string
}) {
  const box = useRef<HTMLDivElement>(null)
  const [top, setTop] = useState(0)
  const overscan = 8
  const start = Math.max(0, Math.floor(top / rowHeight) - overscan)
  const end = Math.min(items.length, Math.ceil((top + height) / rowHeight) + overscan)
  useEffect(() => {
    onRange?.(start, end)
  }, [start, end, items])
  const rows = []
  for (let i = start; i < end; i++) {
    rows.push(<div class="vrow" key={i} style={{ top: `${i * rowHeight}px`, height: `${rowHeight}px` }}>{render(items[i]!, i)}</div>)
  }
  return (
    <div class="vlist" ref={box} data-testid={testid} style={{ height: `${Math.min(height, Math.max(rowHeight, items.length * rowHeight))}px` }} onScroll={(e) => setTop((e.target as HTMLDivElement).scrollTop)}>
      <div class="vspace" style={{ height: `${items.length * rowHeight}px` }}>{rows}</div>
    </div>
  )
}
