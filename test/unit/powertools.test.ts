import { logger, startInvocation } from '../../lambda/handlers/powertools';
import { captureOutput } from '../support/handler-io';

/** The JSON log lines printed while `run` ran. */
function logLines(run: () => void): Record<string, unknown>[] {
  const output = captureOutput();
  try {
    run();
  } finally {
    output.restore();
  }
  return output.lines
    .flatMap((l) => l.split('\n'))
    .filter((l) => l.startsWith('{') && !l.includes('"_aws"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('startInvocation', () => {
  const context = (requestId: string) => ({
    getRemainingTimeInMillis: () => 60_000,
    awsRequestId: requestId,
    functionName: 'restorable-dump',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:restorable-dump',
    memoryLimitInMB: '2048',
  });

  test('puts the Lambda context on every line through Powertools, and only this invocation keys', () => {
    const [first] = logLines(() => {
      startInvocation(context('req-1'), { databaseId: 'orders' });
      logger.info('one');
    });
    expect(first).toMatchObject({
      message: 'one',
      service: 'restorable',
      function_request_id: 'req-1',
      function_name: 'restorable-dump',
      databaseId: 'orders',
    });
    const [second] = logLines(() => {
      startInvocation(context('req-2'), { action: 'select' });
      logger.info('two');
    });
    expect(second).toMatchObject({ function_request_id: 'req-2', action: 'select' });
    expect(second).not.toHaveProperty('databaseId');
  });
});
