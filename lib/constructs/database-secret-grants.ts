/**
 * The one way a role reads a database's connection secret: the secret itself and, when it is
 * encrypted with a customer managed key, `kms:Decrypt` on that key only through Secrets Manager and
 * only for this secret.
 */
import { Arn, ArnFormat, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';

/**
 * Lets `grantee` read `secret` (GetSecretValue, DescribeSecret) and, with `key`, decrypt it.
 *
 * The key statement is built here rather than by `Secret.grantRead` with an imported key, which
 * grants `kms:Decrypt` with `kms:ViaService` alone: Secrets Manager also puts the secret's ARN in
 * the encryption context of every call it makes, so the role can decrypt this secret and no other
 * secret under the same key.
 * @see https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html#security-encryption-encryption-context
 */
export function grantReadDatabaseSecret(
  grantee: iam.IGrantable,
  secret: secretsmanager.ISecret,
  key?: kms.IKey,
): iam.Grant {
  const read = secret.grantRead(grantee);
  if (!key) return read;
  const decrypt = iam.Grant.addToPrincipal({
    grantee,
    actions: ['kms:Decrypt'],
    resourceArns: [key.keyArn],
    conditions: {
      StringEquals: {
        'kms:ViaService': `secretsmanager.${secretRegion(secret)}.amazonaws.com`,
        'kms:EncryptionContext:SecretARN': secret.secretArn,
      },
    },
  });
  return read.combine(decrypt);
}

/** The secret's own region (Secrets Manager calls KMS from there), else the stack's. */
function secretRegion(secret: secretsmanager.ISecret): string {
  if (!Token.isUnresolved(secret.secretArn)) {
    const { region } = Arn.split(secret.secretArn, ArnFormat.COLON_RESOURCE_NAME);
    if (region) return region;
  }
  return Stack.of(secret).region;
}
