import { EventEmitter } from 'node:events'
import type { DerivedEvent, TwinView } from './shardBatch.ts'

/**
 * Change notices from workers to API fan-out, after each commit, in commit
 * order. In-process for now: the worker and the API run in one process
 * (roles split across processes arrive with scale-out, issue #3/#4).
 */
export class ChangeBus {
  private readonly emitter = new EventEmitter()

  constructor() {
    // One listener per WebSocket connection.
    this.emitter.setMaxListeners(0)
  }

  publishChange(view: TwinView): void {
    this.emitter.emit('change', view)
  }

  publishDerived(event: DerivedEvent): void {
    this.emitter.emit('derived', event)
  }

  onChange(listener: (view: TwinView) => void): () => void {
    this.emitter.on('change', listener)
    return () => this.emitter.off('change', listener)
  }

  onDerived(listener: (event: DerivedEvent) => void): () => void {
    this.emitter.on('derived', listener)
    return () => this.emitter.off('derived', listener)
  }
}
