/**
 * Construct ids are PascalCase (STYLE.md), database ids are kebab-case (`orders-db`): this turns the
 * second into the first (`OrdersDb`) so per-database constructs get stable, readable ids.
 */
// @ts-nocheck

export function pascalCase(id: string): string {
  return id
    .split(/[^A-Za-z0-9]+/)
    .filter((part) => part.length > 0)
    .map((part) => part[0].toUpperCase() + part.slice(1))
    .join('');
}
