/**
 * MQTT topic names and filters (MQTT 3.1.1 section 4.7 / 5.0 section 4.7):
 * checks and matching, pure. Input topics (a twin type's `inputs`) are
 * filters; topics derived events are published to are names.
 */

/** Longest topic MQTT can carry: a UTF-8 string of at most 65,535 bytes. */
const MAX_TOPIC_BYTES = 65_535

/** What is wrong with a topic filter for MQTT, or null when it is a valid one. */
export function topicFilterProblem(filter: string): string | null {
  if (typeof filter !== 'string' || filter.length === 0) return 'is empty'
  if (filter.includes('\u0000')) return 'contains the NUL character'
  if (Buffer.byteLength(filter) > MAX_TOPIC_BYTES) return `is longer than MQTT's ${MAX_TOPIC_BYTES} bytes`
  const levels = filter.split('/')
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return `uses "#" other than as its whole last level`
    if (level.includes('+') && level !== '+') return `uses "+" other than as a whole level`
  }
  return null
}

/** What is wrong with a topic name to publish to, or null when MQTT allows it. */
export function topicNameProblem(topic: string): string | null {
  if (typeof topic !== 'string' || topic.length === 0) return 'is empty'
  if (/[+#]/.test(topic)) return 'contains a wildcard (+ or #), which only subscriptions may use'
  if (topic.includes('\u0000')) return 'contains the NUL character'
  if (Buffer.byteLength(topic) > MAX_TOPIC_BYTES) return `is longer than MQTT's ${MAX_TOPIC_BYTES} bytes`
  return null
}

/** True when `topic` (a name) matches `filter`. Wildcards at the first level do not match `$…` topics (MQTT 4.7.2). */
export function filterMatches(filter: string, topic: string): boolean {
  if (filter === topic) return true
  const f = filter.split('/')
  const t = topic.split('/')
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true
    if (i >= t.length) return false
    if (f[i] !== '+' && f[i] !== t[i]) return false
  }
  return f.length === t.length
}

/** True when some topic matches both filters. */
export function filtersOverlap(a: string, b: string): boolean {
  const x = a.split('/')
  const y = b.split('/')
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] === '#' || y[i] === '#') return true
    // One filter ended: `a/b` and `a/b/#` overlap (handled above); anything longer does not.
    if (i >= x.length || i >= y.length) return false
    if (x[i] !== '+' && y[i] !== '+' && x[i] !== y[i]) return false
  }
  return true
}

/** True when the filter has no wildcard: it names one topic. */
export function isExactTopic(filter: string): boolean {
  return !/[+#]/.test(filter)
}
