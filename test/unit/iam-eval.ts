/**
 * A small evaluator of policies for the ABAC and service-principal tests: IAM's substitution of
 * `${aws:PrincipalTag/...}`, `*` and `?` wildcards, StringEquals / StringLike / Null / ArnLike
 * conditions, and the `Principal.Service` of resource policies (key and topic policies). Unknown
 * operators throw, so a test never trusts a condition this does not understand.
 */
import { flatten, type PolicyStatementJson } from './workflow-support';

/** A request as IAM sees it: the action, the resource, and the request context. */
export interface Request {
  readonly action: string;
  readonly resource: string;
  readonly context: Readonly<Record<string, string>>;
  /**
   * The AWS service calling, for resource policies: a statement with a `Principal` matches only a
   * service it names (so a key policy's account-root statement never answers for a service).
   * @default - an identity policy's request: statements without a `Principal` only
   */
  readonly service?: string;
}

type StatementWithPrincipal = PolicyStatementJson & {
  readonly Principal?: { readonly Service?: string | string[] } | string;
};

const glob = (pattern: string, value: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  ).test(value);

/** ArnLike: each of an ARN's six colon-separated parts matched on its own (the resource part keeps its colons). */
function arnLike(pattern: string, value: string): boolean {
  const parts = (arn: string) => {
    const head = arn.split(':', 5);
    return [...head, arn.split(':').slice(5).join(':')];
  };
  if (pattern.split(':').length < 6 || value.split(':').length < 6) return false;
  const v = parts(value);
  return parts(pattern).every((part, i) => glob(part, v[i]));
}

/** Whether the statement's principal is the request's (none on both sides for identity policies). */
function principalMatches(statement: StatementWithPrincipal, service: string | undefined): boolean {
  if (statement.Principal === undefined) return service === undefined;
  if (service === undefined || typeof statement.Principal === 'string') return false;
  const services = statement.Principal.Service ?? [];
  return (Array.isArray(services) ? services : [services]).includes(service);
}

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
        case 'ArnLike':
          return actual !== undefined && expected.some((p) => p !== undefined && arnLike(p, actual));
        case 'Null':
          return (actual === undefined) === (expected[0] === 'true');
        default:
          throw new Error(`the test evaluator does not know ${operator}; teach it before trusting it`);
      }
    }),
  );
}

export function allowed(statements: StatementWithPrincipal[], request: Request): boolean {
  return statements.some((statement) => {
    const actions = Array.isArray(statement.Action) ? statement.Action : [statement.Action];
    const resources = (Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource]).map(
      flatten,
    );
    return (
      statement.Effect === 'Allow' &&
      principalMatches(statement, request.service) &&
      actions.some((a) => glob(a, request.action)) &&
      resources.some((r) => {
        const pattern = substitute(r, request.context);
        return pattern !== undefined && glob(pattern, request.resource);
      }) &&
      conditionsHold(statement, request.context)
    );
  });
}
