/**
 * A small evaluator of identity policies for the ABAC tests: IAM's substitution of
 * `${aws:PrincipalTag/...}`, `*` and `?` wildcards, StringEquals / StringLike / Null conditions.
 * Unknown operators throw, so a test never trusts a condition this does not understand.
 */
import { flatten, type PolicyStatementJson } from './workflow-support';

/** A request as IAM sees it: the action, the resource, and the request context. */
export interface Request {
  readonly action: string;
  readonly resource: string;
  readonly context: Readonly<Record<string, string>>;
}

const glob = (pattern: string, value: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  ).test(value);

/** `${aws:PrincipalTag/k}` → the session's tag; an unset tag leaves no match possible. */
function substitute(text: string, context: Readonly<Record<string, string>>): string | undefined {
  let missing = false;
  const out = text.replace(/\$\{(aws:PrincipalTag\/[^}]+)\}/g, (_, key: string) => {
    if (context[key] === undefined) missing = true;
    return context[key] ?? '';
  });
  return missing ? undefined : out;
}

function conditionsHold(statement: PolicyStatementJson, context: Readonly<Record<string, string>>): boolean {
  return Object.entries(statement.Condition ?? {}).every(([operator, entries]) =>
    Object.entries(entries).every(([key, raw]) => {
      const expected = (Array.isArray(raw) ? raw : [raw]).map((v) => substitute(flatten(v), context));
      const actual = context[key];
      switch (operator) {
        case 'StringEquals':
          return actual !== undefined && expected.includes(actual);
        case 'StringLike':
          return actual !== undefined && expected.some((p) => p !== undefined && glob(p, actual));
        case 'Null':
          return (actual === undefined) === (expected[0] === 'true');
        default:
          throw new Error(`the test evaluator does not know ${operator}; teach it before trusting it`);
      }
    }),
  );
}

export function allowed(statements: PolicyStatementJson[], request: Request): boolean {
  return statements.some((statement) => {
    const actions = Array.isArray(statement.Action) ? statement.Action : [statement.Action];
    const resources = (Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource]).map(
      flatten,
    );
    return (
      statement.Effect === 'Allow' &&
      actions.some((a) => glob(a, request.action)) &&
      resources.some((r) => {
        const pattern = substitute(r, request.context);
        return pattern !== undefined && glob(pattern, request.resource);
      }) &&
      conditionsHold(statement, request.context)
    );
  });
}
