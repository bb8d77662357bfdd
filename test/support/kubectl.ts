import { execFileSync } from 'node:child_process'

/** The oldest Kustomize that renders deploy/k8s (`labels` with includeSelectors, inline `patches`): kubectl 1.27 and later ship it. */
const KUSTOMIZE_MAJOR = 5

const HOW = 'kubectl ships with the machines this project runs on (their image has it); elsewhere install kubectl 1.27 or later from ' +
  "Kubernetes' own package repository or release binaries (ADR 0046). Debian bookworm's kubernetes-client is kubectl 1.20 with Kustomize 2.0.3, " +
  'which cannot render these manifests'

/**
 * `kubectl kustomize DIR`: the Kubernetes manifests as kubectl renders them.
 * Throws — never skips — with what to install when kubectl is missing or its
 * Kustomize is too old, so CI fails with one clear line.
 */
export function kustomize(dir: string): string {
  let version: string | undefined
  try {
    version = (JSON.parse(execFileSync('kubectl', ['version', '--client', '-o', 'json'], { encoding: 'utf8' })) as { kustomizeVersion?: string }).kustomizeVersion
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new Error(`kubectl is needed to render deploy/k8s (kubectl kustomize) and ${e.code === 'ENOENT' ? 'is not on PATH' : `failed: ${e.message}`}. ${HOW}`)
  }
  const major = Number(/^v?(\d+)\./.exec(version ?? '')?.[1])
  if (!(major >= KUSTOMIZE_MAJOR)) throw new Error(`kubectl's Kustomize is ${version ?? 'unknown'}; deploy/k8s needs Kustomize ${KUSTOMIZE_MAJOR} or later. ${HOW}`)
  return execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' })
}
