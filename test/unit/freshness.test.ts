import { DescribeKeyCommand, KMSClient, NotFoundException, type KeyMetadata } from '@aws-sdk/client-kms';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { checkFreshness, databaseFreshness, keyStatus, median, sizeRatio } from '../../lambda/core/freshness';

describe('keyStatus (KMS DescribeKey)', () => {
  const kmsMock = mockClient(KMSClient);
  const kms = new KMSClient({ region: 'us-east-1' });
  afterEach(() => kmsMock.reset());
  afterAll(() => kmsMock.restore());

  test('an enabled key is usable', async () => {
    kmsMock
      .on(DescribeKeyCommand)
      .resolves({ KeyMetadata: { KeyId: 'k', Enabled: true, KeyState: 'Enabled' } });
    await expect(keyStatus({ label: 'primary', keyId: 'arn:k', kms })).resolves.toEqual({
      label: 'primary',
      keyId: 'arn:k',
      usable: true,
      state: 'Enabled',
      detail: 'enabled',
    });
  });

  test('a disabled key is not usable', async () => {
    kmsMock
      .on(DescribeKeyCommand)
      .resolves({ KeyMetadata: { KeyId: 'k', Enabled: false, KeyState: 'Disabled' } });
    await expect(keyStatus({ label: 'replica', keyId: 'arn:k', kms })).resolves.toMatchObject({
      usable: false,
      state: 'Disabled',
      detail: 'key state Disabled (disabled)',
    });
  });

  test('a key pending deletion is not usable and says when it goes', async () => {
    kmsMock.on(DescribeKeyCommand).resolves({
      KeyMetadata: {
        KeyId: 'k',
        Enabled: false,
        KeyState: 'PendingDeletion',
        DeletionDate: new Date('2026-12-22T00:00:00Z'),
      },
    });
    await expect(keyStatus({ label: 'primary', keyId: 'arn:k', kms })).resolves.toMatchObject({
      usable: false,
      state: 'PendingDeletion',
      detail: 'pending deletion on 2026-12-22T00:00:00.000Z',
    });
  });

  test.each<[string, Omit<KeyMetadata, 'KeyId'> | undefined, string]>([
    [
      'enabled but in state PendingImport',
      { Enabled: true, KeyState: 'PendingImport' },
      'key state PendingImport',
    ],
    [
      'in state Enabled but not enabled',
      { Enabled: false, KeyState: 'Enabled' },
      'key state Enabled (disabled)',
    ],
    ['without metadata', undefined, 'key state Unknown'],
    ['pending deletion with no date', { Enabled: false, KeyState: 'PendingDeletion' }, 'pending deletion'],
  ])('a key %s is not usable', async (_, metadata, detail) => {
    kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: metadata && { KeyId: 'k', ...metadata } });
    const status = await keyStatus({ label: 'primary', keyId: 'arn:k', kms });
    expect(status).toMatchObject({ usable: false, detail });
    expect(status.state).toBe(metadata?.KeyState ?? 'Unknown');
  });

  test('a key a client reports without Enabled is not called disabled', async () => {
    kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: 'k', KeyState: 'Unavailable' } });
    await expect(keyStatus({ label: 'primary', keyId: 'arn:k', kms })).resolves.toMatchObject({
      usable: false,
      detail: 'key state Unavailable',
    });
  });

  test('a key that cannot be described counts as unusable', async () => {
    kmsMock
      .on(DescribeKeyCommand)
      .rejects(new NotFoundException({ message: 'Key not found', $metadata: {} }));
    await expect(keyStatus({ label: 'primary', keyId: 'arn:gone', kms })).resolves.toMatchObject({
      usable: false,
      state: 'Unknown',
      detail: expect.stringMatching(/DescribeKey failed: NotFoundException/),
    });
  });
});

describe('size statistics', () => {
  test('median of odd and even lengths', () => {
    expect(median([])).toBeUndefined();
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  test('ratio against the median of the previous seven only', () => {
    expect(sizeRatio(150, [100, 100, 100, 100, 100, 100, 100, 1_000_000])).toBe(1.5);
    // Seven more huge ones past the window would move the median of all fourteen; they must not count.
    expect(sizeRatio(150, [...Array(7).fill(100), ...Array(7).fill(1_000_000)])).toBe(1.5);
    expect(sizeRatio(50, [100])).toBe(0.5);
    expect(sizeRatio(50, [])).toBeUndefined();
    expect(sizeRatio(50, [0])).toBeUndefined();
  });
});

describe('reference time', () => {
  test('falls back to the local clock, and says so, when S3 sends no Date header', async () => {
    const s3Mock = mockClient(S3Client);
    try {
      s3Mock.on(ListObjectsV2Command).resolves({ Contents: [] });
      const now = new Date('2026-11-22T10:00:00Z');
      const f = await databaseFreshness(new S3Client({ region: 'us-east-1' }), 'b', 'orders', {
        now: () => now,
      });
      expect(f.reference).toEqual({ time: now, source: 'local' });
      expect(f.ageHours).toBeUndefined();
      // checkFreshness hands its clock down to each database.
      const report = await checkFreshness({
        s3: new S3Client({ region: 'us-east-1' }),
        bucket: 'b',
        databaseIds: ['orders', 'billing'],
        now: () => now,
      });
      expect(report.databases.map((d) => [d.databaseId, d.reference])).toEqual([
        ['orders', { time: now, source: 'local' }],
        ['billing', { time: now, source: 'local' }],
      ]);
      expect(report.keys).toEqual([]);
    } finally {
      s3Mock.restore();
    }
  });
});
