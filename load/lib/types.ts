/** Shapes shared by the load tool's coordinator, generators and report. */

/** Latency percentiles in milliseconds. */
export interface Percentiles {
  count: number
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
  mean: number
}

/** One second of a run, for the time series and the chart. */
export interface Sample {
  /** seconds since the measured phase started */
  t: number
  /** events published (acknowledged by the broker) in this second */
  published: number
  /** changes (or messages, for the broker ceiling) received in this second */
  received: number
  /** latency of what was received in this second (ms) */
  p50: number
  p99: number
  /** CPU of the system under test in this second, percent of one core (sum over its processes) */
  cpuPercent?: number
  /** resident memory of the system under test, MB (sum over its processes) */
  rssMb?: number
}

/** The measured result of one target (the engine, or a reference) in one run. */
export interface TargetResult {
  /** 'engine' | 'broker-ceiling' | 'in-memory' */
  target: string
  description: string
  /** events/s asked of the generators (0 = as fast as acknowledgements allow) */
  targetRate: number
  durationS: number
  published: number
  received: number
  /** received / measured seconds */
  throughput: number
  latency: Percentiles
  errors: number
  deadLetters?: number
  /** changes that matched no publish (a timer fired, or a dead letter shifted revs) */
  unmatched?: number
  cpuSecondsPerEvent?: number
  peakRssMb?: number
  samples: Sample[]
  /** anything scenario-specific: Redis bytes per twin, timer lateness, recovery time... */
  extra?: Record<string, unknown>
}

export interface LoadReport {
  scenario: string
  date: string
  machine: { cpus: number; cpuModel: string; memGb: number; node: string }
  /** the MQTT broker devices published to, and how it ran */
  broker: string
  options: Record<string, unknown>
  results: TargetResult[]
  /** engine ÷ reference, for throughput (and whatever else the scenario compares) */
  ratios: Record<string, number>
  /** targets from the issue and whether this run met them */
  targets: Array<{ name: string; goal: string; measured: string; met: boolean | null }>
  notes: string[]
}
