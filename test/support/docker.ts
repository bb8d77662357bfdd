import { execFile, execFileSync, spawn } from 'node:child_process'
import { openSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ROOT } from './env.ts'

const run = promisify(execFile)

/** docker CLI; resolves stdout, rejects with stderr in the message. */
export async function docker(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run('docker', args, { maxBuffer: 64 * 1024 * 1024 })
    return stdout.trim()
  } catch (err) {
    const e = err as { stderr?: string; message: string }
    throw new Error(`docker ${args.slice(0, 3).join(' ')} failed: ${e.stderr?.trim() || e.message}`)
  }
}

function daemonAnswers(): boolean {
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: 10_000 })
    return true
  } catch {
    return false
  }
}

/**
 * Makes sure Docker's daemon runs: starts `dockerd --bridge=none
 * --iptables=false` (no bridge: containers use the host network only) when
 * it does not answer. Throws, never skips, when it cannot: CI must see it.
 */
export async function ensureDocker(): Promise<void> {
  if (daemonAnswers()) return
  const log = join(tmpdir(), 'twin-dockerd.log')
  const child = spawn('dockerd', ['--bridge=none', '--iptables=false'], { detached: true, stdio: ['ignore', openSync(log, 'a'), openSync(log, 'a')] })
  let failed: string | undefined
  child.once('error', (err) => (failed = err.message))
  child.unref()
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (failed) throw new Error(`cannot start dockerd (${failed}); install docker.io (apt-get install docker.io) and run as root`)
    if (daemonAnswers()) return
    await new Promise((r) => setTimeout(r, 500))
  }
  throw new Error(`dockerd did not answer within 60 s; its log is ${log}`)
}

/** The Dockerfile's base image: pulled elsewhere, built here by deploy/offline-base.sh when missing (no registry). */
export async function ensureBaseImage(tag = 'node:20-bookworm-slim'): Promise<void> {
  const present = await docker('image', 'inspect', '--format', '{{.Id}}', tag).then(() => true, () => false)
  if (present) return
  await run('bash', [join(ROOT, 'deploy/offline-base.sh')], { env: { ...process.env, BASE_TAG: tag }, maxBuffer: 16 * 1024 * 1024 })
}

/** Builds the image from the real Dockerfile with deploy/build-image.sh; returns its version-revision tag. */
export async function buildImage(): Promise<string> {
  const { stdout } = await run('bash', [join(ROOT, 'deploy/build-image.sh')], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 })
  return stdout.trim().split('\n').pop()!
}
