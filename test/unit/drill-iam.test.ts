/**
 * The drill role's caps (lib/drill-iam.ts), as Deny statements in the synthesized template: storage
 * over the cap, an unmanaged master password, and drill tags rewritten or removed after create.
 */
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { createDrillInstanceStatements, DEFAULT_DRILL_MAX_STORAGE_GIB } from '../../lib/drill-iam';
import { deniesOf } from './iam-support';
import { ordersRestoreDrill, workflowFixture } from './workflow-support';

const DRILL_KEYS = [
  'restorable:drill',
  'restorable:expires-at',
  'restorable:database',
  'restorable:drill-id',
];

function denies() {
  const f = workflowFixture();
  const drill = ordersRestoreDrill(f);
  return deniesOf(Template.fromStack(f.stack), f.stack, drill.drillFunction.role as iam.IRole);
}

test('the drill role denies exactly the storage cap, unmanaged passwords and drill-tag rewrites', () => {
  expect(denies()).toEqual({
    DenyDrillStorageOverCap: {
      actions: ['rds:CreateDBInstance'],
      resources: ['*'],
      condition: { NumericGreaterThan: { 'rds:StorageSize': String(DEFAULT_DRILL_MAX_STORAGE_GIB) } },
    },
    DenyUnmanagedMasterPassword: {
      actions: ['rds:CreateDBInstance'],
      resources: ['*'],
      condition: { BoolIfExists: { 'rds:ManageMasterUserPassword': 'false' } },
    },
    // An instance that already has the drill tag: adding or changing any drill tag is denied
    // (at create the instance has no tags, so this does not apply).
    DenyRewritingDrillTags: {
      actions: ['rds:AddTagsToResource'],
      resources: ['*'],
      condition: {
        'ForAnyValue:StringEquals': { 'aws:TagKeys': DRILL_KEYS },
        Null: { 'rds:db-tag/restorable:drill': 'false' },
      },
    },
    DenyRemovingDrillTags: {
      actions: ['rds:RemoveTagsFromResource'],
      resources: ['*'],
      condition: { 'ForAnyValue:StringEquals': { 'aws:TagKeys': DRILL_KEYS } },
    },
  });
});

test('a storage cap outside what RDS gp3 storage allows is refused at synth', () => {
  const stack = new Stack();
  for (const bad of [10, 70_000, 100.5]) {
    expect(() =>
      createDrillInstanceStatements(stack, {
        instanceClass: 'db.t4g.medium',
        subnetGroupName: 'g',
        maxStorageGiB: bad,
      }),
    ).toThrow(
      new RegExp(`maxStorageGiB must be an integer from 20 to 65536 \\(the gp3 range\\), got ${bad}`),
    );
  }
  const [, cap] = createDrillInstanceStatements(stack, {
    instanceClass: 'db.t4g.medium',
    subnetGroupName: 'g',
    maxStorageGiB: 500,
  });
  expect(stack.resolve(cap.toStatementJson()).Condition).toEqual({
    NumericGreaterThan: { 'rds:StorageSize': '500' },
  });
});
