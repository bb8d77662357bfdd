import { TwinError } from '../../errors.ts'

/**
 * Where something is in an imported file: the file, and a JSON path in the
 * file's own terms (`$.Resources.M.Properties.DetectorModelDefinition.States[0]`
 * for CloudFormation, `$.detectorModelDefinition.states[0]` otherwise), with
 * the character offset inside an expression when the problem is in one.
 */
export interface Location {
  file: string
  path: string
  /** 0-based offset inside the expression at `path` */
  at?: number
}

/** A finding of the import or the analyzer. Errors stop the import; warnings are printed. */
export interface Issue extends Location {
  severity: 'error' | 'warning'
  /** a short stable name of the check, e.g. `type-mix`, `timer-under-60s` */
  check: string
  message: string
}

export function formatLocation(l: Location): string {
  return `${l.file}: ${l.path}${l.at !== undefined ? ` (at character ${l.at + 1})` : ''}`
}

export function formatIssue(issue: Issue): string {
  return `${issue.severity}: ${formatLocation(issue)}: ${issue.message} [${issue.check}]`
}

/** A refused import: names the file, the JSON path, what is wrong and what to change. */
export class ImportFailure extends TwinError {
  constructor(file: string, path: string, problem: string, fix: string, at?: number, code: 'TWIN_ERR_IOT_MODEL' | 'TWIN_ERR_IOT_EXPRESSION' = 'TWIN_ERR_IOT_MODEL') {
    const where = formatLocation({ file, path, at })
    super(code, `${where}: ${problem}; ${fix}`, { file, path, ...(at !== undefined ? { at } : {}) })
  }
}
