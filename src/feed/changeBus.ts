import { EventEmitter } from 'node:events'
import type { DerivedEvent, TwinView } from '../model/record.ts'

/**
 * Change notices from workers to WebSocket fan-out within one process, after
 * each commit, in commit order. A worker in this process publishes here
 * directly; workers elsewhere arrive through the Redis change feed
 * (changeFeed.ts).
 */
export class ChangeBus {
  private readonly emitter = new EventEmitter()
  /** change-feed subscriptions of this process (an api role): a worker here does not count them as listeners elsewhere */
  feedSubscribers = 0

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
