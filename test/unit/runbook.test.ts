/**
 * Every alarm's description ends with the runbook section on-call opens when it pages
 * (`Runbook: docs/RUNBOOK.md#<anchor>`): each anchor, in the per-database shape and in the fleet
 * shape, must be a section of docs/RUNBOOK.md (GitHub's heading slugs), or the page lands nowhere.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { synthBackupStack } from './cdk-support';
import { fleetApp, fleetConfig } from './fleet-support';

const RUNBOOK = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'RUNBOOK.md'), 'utf8');

/** GitHub's anchor of a heading: lower case, punctuation but `-` and `_` dropped, spaces to `-`. */
export const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

const sections = new Set(
  [...RUNBOOK.matchAll(/^#{1,6} (.+)$/gm)]
    .map((m) => slug(m[1]))
    .concat(
      // Explicit anchors (`<a id="x"></a>`) for an alarm that shares a section.
      [...RUNBOOK.matchAll(/<a id="([^"]+)"><\/a>/g)].map((m) => m[1]),
    ),
);

function anchorsOf(templates: Template[]): Map<string, string[]> {
  const anchors = new Map<string, string[]>();
  for (const template of templates) {
    for (const [id, alarm] of Object.entries(template.findResources('AWS::CloudWatch::Alarm'))) {
      const description = String(alarm.Properties.AlarmDescription ?? '');
      const anchor = /Runbook: docs\/RUNBOOK\.md#([a-z0-9-]+)$/.exec(description)?.[1];
      const key = anchor ?? `(no runbook link: ${description})`;
      anchors.set(key, [...(anchors.get(key) ?? []), id]);
    }
  }
  return anchors;
}

test("slug is GitHub's", () => {
  expect(slug('replica-missing, replication-failed, replication-late')).toBe(
    'replica-missing-replication-failed-replication-late',
  );
  expect(slug('First, in any incident: is there a good backup?')).toBe(
    'first-in-any-incident-is-there-a-good-backup',
  );
});

test.each([
  ['per-database', () => [synthBackupStack().template]],
  [
    'fleet',
    () => {
      const { backup, groups } = fleetApp(fleetConfig(24));
      return [backup, ...groups].map((s) => Template.fromStack(s));
    },
  ],
])('every alarm of the %s shape links to a runbook section that exists', (_shape, templates) => {
  const anchors = anchorsOf(templates());
  expect(anchors.size).toBeGreaterThan(5);
  const missing = [...anchors.keys()].filter((a) => !sections.has(a));
  expect(missing).toEqual([]);
});
