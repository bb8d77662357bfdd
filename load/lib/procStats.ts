import { readFileSync } from 'node:fs'

const TICKS = 100 // clock ticks per second (Linux USER_HZ)
const PAGE = 4096

/** CPU seconds (user + system) a process has used, from /proc; throws when it is gone. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(stat[11]) + Number(stat[12])) / TICKS
}

/** CPU seconds (user + system) and resident MB of a process, from /proc. */
export function readProc(pid: number): { cpuSeconds: number; rssMb: number } | null {
  try {
    const statm = readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')
    return { cpuSeconds: cpuSeconds(pid), rssMb: (Number(statm[1]) * PAGE) / 1e6 }
  } catch {
    return null // the process is gone
  }
}

/** Samples the CPU and memory of a set of processes (the system under test) once a second. */
export class ProcSampler {
  private readonly start = new Map<number, number>()
  private last = new Map<number, number>()
  peakRssMb = 0

  constructor(private readonly pids: () => number[]) {
    for (const pid of pids()) {
      const p = readProc(pid)
      if (p) this.start.set(pid, p.cpuSeconds)
    }
    this.last = new Map(this.start)
  }

  /** CPU percent of one core over the interval since the last call, and current RSS. */
  sample(seconds: number): { cpuPercent: number; rssMb: number } {
    let cpu = 0
    let rss = 0
    for (const pid of this.pids()) {
      const p = readProc(pid)
      if (!p) continue
      if (!this.start.has(pid)) this.start.set(pid, p.cpuSeconds)
      cpu += p.cpuSeconds - (this.last.get(pid) ?? p.cpuSeconds)
      this.last.set(pid, p.cpuSeconds)
      rss += p.rssMb
    }
    this.peakRssMb = Math.max(this.peakRssMb, rss)
    return { cpuPercent: Math.round((cpu / seconds) * 100), rssMb: Math.round(rss) }
  }

  /** CPU seconds used since the sampler was made. */
  cpuSeconds(): number {
    let total = 0
    for (const [pid, at] of this.start) total += (readProc(pid)?.cpuSeconds ?? this.last.get(pid) ?? at) - at
    return total
  }
}
