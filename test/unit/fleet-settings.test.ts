/**
 * Fleet settings: `selection` (tags, engines) and the fleet knobs, their defaults, and one
 * `toThrow` per validation rule, each naming the field and what is allowed.
 */
import {
  DEFAULT_MAX_CONCURRENT_BACKUPS,
  DEFAULT_MAX_CONCURRENT_DRILLS,
  DEFAULT_START_JITTER_MINUTES,
  FleetSettingsError,
  FleetTags,
  matchesTags,
  parseFleetSettings,
} from '../../lambda/core/fleet-settings';
import { TAG_DATABASE } from '../../lambda/core/drill-naming';

describe('parseFleetSettings', () => {
  it('applies the defaults: no selection, 10 backups and 2 drills at once, 30 minutes of jitter', () => {
    expect(parseFleetSettings({})).toEqual({
      selection: undefined,
      fleet: { maxConcurrentBackups: 10, maxConcurrentDrills: 2, startJitterMinutes: 30 },
    });
    expect([
      DEFAULT_MAX_CONCURRENT_BACKUPS,
      DEFAULT_MAX_CONCURRENT_DRILLS,
      DEFAULT_START_JITTER_MINUTES,
    ]).toEqual([10, 2, 30]);
  });

  it('selects both PostgreSQL engines unless told otherwise, and keeps the tags as written', () => {
    expect(parseFleetSettings({ selection: { tags: { backup: 'nightly', team: '*' } } }).selection).toEqual({
      tags: { backup: 'nightly', team: '*' },
      engines: ['postgres', 'aurora-postgresql'],
    });
    expect(
      parseFleetSettings({ selection: { tags: { backup: '' }, engines: ['aurora-postgresql'] } }).selection,
    ).toEqual({ tags: { backup: '' }, engines: ['aurora-postgresql'] });
  });

  it('refuses an empty tag selection, which would back up every database in the account', () => {
    expect(() => parseFleetSettings({ selection: { tags: {} } })).toThrow(
      /selection\.tags must name at least one tag: an empty selection would back up every database/,
    );
  });

  it('refuses reserved aws: tag keys and over-long keys and values', () => {
    expect(() =>
      parseFleetSettings({ selection: { tags: { 'aws:cloudformation:stack-name': 'x' } } }),
    ).toThrow(/tag key "aws:cloudformation:stack-name" must not start with "aws:"/);
    expect(() => parseFleetSettings({ selection: { tags: { ['k'.repeat(129)]: 'x' } } })).toThrow(
      FleetSettingsError,
    );
    expect(() => parseFleetSettings({ selection: { tags: { k: 'v'.repeat(257) } } })).toThrow(
      /selection\.tags\.k .*256/,
    );
  });

  it('refuses engines discovery does not back up, and an empty engine list', () => {
    expect(() => parseFleetSettings({ selection: { tags: { a: 'b' }, engines: ['mysql'] } })).toThrow(
      /selection\.engines\[0\].*"postgres".*"aurora-postgresql"/,
    );
    expect(() => parseFleetSettings({ selection: { tags: { a: 'b' }, engines: [] } })).toThrow(
      /selection\.engines/,
    );
  });

  it('refuses unknown settings (a typo must not silently fall back to a default)', () => {
    expect(() => parseFleetSettings({ fleet: { maxConcurentBackups: 5 } })).toThrow(/maxConcurentBackups/);
    expect(() => parseFleetSettings({ selection: { tags: { a: 'b' }, tag: {} } })).toThrow(/"tag"/);
  });

  it('bounds concurrency by the Inline Map limit of 40, and to at least 1', () => {
    expect(
      parseFleetSettings({ fleet: { maxConcurrentBackups: 40, maxConcurrentDrills: 40 } }).fleet,
    ).toMatchObject({
      maxConcurrentBackups: 40,
      maxConcurrentDrills: 40,
    });
    expect(() => parseFleetSettings({ fleet: { maxConcurrentBackups: 41 } })).toThrow(
      /fleet\.maxConcurrentBackups \(41\) must be at most 40: the orchestrator's Inline Map/,
    );
    expect(() => parseFleetSettings({ fleet: { maxConcurrentDrills: 100 } })).toThrow(
      /fleet\.maxConcurrentDrills \(100\) must be at most 40/,
    );
    expect(() => parseFleetSettings({ fleet: { maxConcurrentBackups: 0 } })).toThrow(
      /fleet\.maxConcurrentBackups/,
    );
    expect(() => parseFleetSettings({ fleet: { maxConcurrentDrills: 1.5 } })).toThrow(
      /fleet\.maxConcurrentDrills/,
    );
  });

  it('refuses a negative jitter and one longer than 12 hours', () => {
    expect(parseFleetSettings({ fleet: { startJitterMinutes: 0 } }).fleet.startJitterMinutes).toBe(0);
    expect(() => parseFleetSettings({ fleet: { startJitterMinutes: -1 } })).toThrow(
      /fleet\.startJitterMinutes/,
    );
    expect(() => parseFleetSettings({ fleet: { startJitterMinutes: 721 } })).toThrow(
      /fleet\.startJitterMinutes/,
    );
  });

  it('refuses a jitter as long as a database RPO, naming each such database', () => {
    const databases = [
      { id: 'orders', rpoHours: 1 },
      { id: 'billing', rpoHours: 24 },
      { id: 'audit', rpoHours: 2 },
    ];
    expect(() => parseFleetSettings({ fleet: { startJitterMinutes: 59 } }, databases)).not.toThrow();
    let error: FleetSettingsError | undefined;
    try {
      parseFleetSettings({ fleet: { startJitterMinutes: 120 } }, databases);
    } catch (err) {
      error = err as FleetSettingsError;
    }
    expect(error?.problems).toEqual([
      'fleet.startJitterMinutes (120) must be shorter than the RPO of "orders" (60 minutes): a run may wait that long before it starts',
      'fleet.startJitterMinutes (120) must be shorter than the RPO of "audit" (120 minutes): a run may wait that long before it starts',
    ]);
  });

  it('reports every problem at once', () => {
    expect(() =>
      parseFleetSettings({
        selection: { tags: {} },
        fleet: { maxConcurrentBackups: 0, startJitterMinutes: -5 },
      }),
    ).toThrow(
      /3 problem\(s\)[\s\S]*selection\.tags[\s\S]*fleet\.maxConcurrentBackups[\s\S]*fleet\.startJitterMinutes/,
    );
  });
});

describe('matchesTags', () => {
  const tags = new Map([
    ['backup', 'nightly'],
    ['team', ''],
  ]);
  it('needs every selected tag, compares values exactly, and lets "*" match any value of a present key', () => {
    expect(matchesTags({ backup: 'nightly' }, tags)).toBe(true);
    expect(matchesTags({ backup: 'Nightly' }, tags)).toBe(false);
    expect(matchesTags({ backup: 'nightly', team: '*' }, tags)).toBe(true);
    expect(matchesTags({ backup: 'nightly', owner: '*' }, tags)).toBe(false);
    expect(matchesTags({ team: '' }, tags)).toBe(true);
  });
});

it('uses the drill tag key for the database id, so a secret and a drill instance mean the same thing by it', () => {
  expect(FleetTags.database).toBe(TAG_DATABASE);
  expect(new Set(Object.values(FleetTags)).size).toBe(Object.values(FleetTags).length);
});
