import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  cliCacheDir,
  provisionTemporalCli,
  provisionTestServer,
  ProvisionError,
  testServerCacheDir,
  TEST_SERVER_VERSION,
  type ProvisionSettings,
} from '../temporal/provision';

// Fake go/mvn/java/temporal stand in for the real tools: these tests never build or download.
let root: string;
let bin: string;
let cacheDir: string;
let lines: string[];

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-provision-test-'));
  bin = path.join(root, 'bin');
  cacheDir = path.join(root, 'cache');
  fs.mkdirSync(bin);
  lines = [];
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

function executable(file: string, body = 'exit 0'): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // The tools run with PATH set to the fake bin dir only, so the scripts bring their own.
  fs.writeFileSync(file, `#!/bin/sh\nPATH=/usr/bin:/bin\n${body}\n`, { mode: 0o755 });
  return file;
}

const settings = (over: Partial<ProvisionSettings> = {}): ProvisionSettings => ({
  WA_BOOKING_CACHE_DIR: cacheDir,
  ...over,
});
const opts = (env: NodeJS.ProcessEnv = {}) => ({
  env: { PATH: bin, ...env },
  log: (line: string) => lines.push(line),
  sdkDownload: false,
});

describe('Temporal CLI', () => {
  test('TEMPORAL_CLI_PATH wins over PATH and the cache', async () => {
    const own = executable(path.join(root, 'own', 'temporal'));
    executable(path.join(bin, 'temporal'));
    executable(path.join(cliCacheDir(cacheDir), 'temporal'));
    await expect(provisionTemporalCli(settings({ TEMPORAL_CLI_PATH: own }), opts())).resolves.toMatchObject({
      path: own,
      source: 'env',
    });
  });

  test('a TEMPORAL_CLI_PATH that does not exist is an error, not a fallback', async () => {
    executable(path.join(bin, 'temporal'));
    await expect(
      provisionTemporalCli(settings({ TEMPORAL_CLI_PATH: path.join(root, 'nope') }), opts()),
    ).rejects.toThrow(/TEMPORAL_CLI_PATH=.*nope: no executable file there/);
  });

  test('`temporal` on PATH comes before the cached build', async () => {
    const onPath = executable(path.join(bin, 'temporal'));
    executable(path.join(cliCacheDir(cacheDir), 'temporal'));
    await expect(provisionTemporalCli(settings(), opts())).resolves.toMatchObject({ path: onPath, source: 'path' });
  });

  test('the cached build is reused', async () => {
    const cached = executable(path.join(cliCacheDir(cacheDir), 'temporal'));
    executable(path.join(bin, 'go'), 'exit 1');
    await expect(provisionTemporalCli(settings(), opts())).resolves.toMatchObject({ path: cached, source: 'cache' });
    expect(lines.join('\n')).toMatch(/using cached build/);
  });

  test('go install builds into the cache once, even when asked twice at the same time', async () => {
    const count = path.join(root, 'go-runs');
    executable(
      path.join(bin, 'go'),
      `echo "$*" >> "${count}"; sleep 0.3; printf '#!/bin/sh\\necho fake' > "$GOBIN/temporal"; chmod +x "$GOBIN/temporal"`,
    );
    const [a, b] = await Promise.all([provisionTemporalCli(settings(), opts()), provisionTemporalCli(settings(), opts())]);
    const built = path.join(cliCacheDir(cacheDir), 'temporal');
    expect([a.path, b.path]).toEqual([built, built]);
    expect([a.source, b.source].sort()).toEqual(['cache', 'go-install']);
    expect(fs.readFileSync(count, 'utf8').trim()).toBe('install github.com/temporalio/cli/cmd/temporal@v1.5.1');
    expect(fs.readdirSync(cacheDir)).toEqual([path.basename(cliCacheDir(cacheDir))]);
  });

  test('a lock left by a dead process does not block the build', async () => {
    fs.mkdirSync(cacheDir, { recursive: true });
    fs.writeFileSync(`${cliCacheDir(cacheDir)}.lock`, '2147483647');
    executable(path.join(bin, 'go'), `printf '#!/bin/sh' > "$GOBIN/temporal"; chmod +x "$GOBIN/temporal"`);
    await expect(provisionTemporalCli(settings(), opts())).resolves.toMatchObject({ source: 'go-install' });
  });

  test('a failed go build is reported with its output, and nothing is cached', async () => {
    executable(path.join(bin, 'go'), 'echo "proxy.golang.org: no route to host" >&2; exit 1');
    const err = await provisionTemporalCli(settings(), opts()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProvisionError);
    expect((err as Error).message).toMatch(/go install failed: .*no route to host/s);
    expect(fs.readdirSync(cacheDir)).toEqual([]);
  });

  test('with nothing available, one error names what is missing and the variable to set', async () => {
    const err = await provisionTemporalCli(settings(), opts()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProvisionError);
    expect((err as Error).message).toMatch(/`go` is not on PATH/);
    expect((err as Error).message).toMatch(/set TEMPORAL_CLI_PATH/);
  });
});

describe('time-skipping test server', () => {
  const fakeMaven = (count: string) => {
    executable(path.join(bin, 'java'), 'echo "java $*"');
    executable(
      path.join(bin, 'mvn'),
      `echo "$*" >> "${count}"; grep -q '<artifactId>temporal-test-server</artifactId>' pom.xml || exit 3; mkdir -p lib; touch lib/temporal-test-server.jar`,
    );
  };

  test('TEMPORAL_TEST_SERVER_PATH wins over the cache', async () => {
    const own = executable(path.join(root, 'own', 'test-server'));
    executable(path.join(testServerCacheDir(cacheDir), 'temporal-test-server'));
    await expect(
      provisionTestServer(settings({ TEMPORAL_TEST_SERVER_PATH: own }), opts()),
    ).resolves.toMatchObject({ path: own, source: 'env' });
  });

  test('a TEMPORAL_TEST_SERVER_PATH that does not exist is an error', async () => {
    await expect(
      provisionTestServer(settings({ TEMPORAL_TEST_SERVER_PATH: path.join(root, 'nope') }), opts()),
    ).rejects.toThrow(/TEMPORAL_TEST_SERVER_PATH=.*nope: no executable file there/);
  });

  test('Maven resolution writes an exec wrapper into the cache; the second run reuses it', async () => {
    const count = path.join(root, 'mvn-runs');
    fakeMaven(count);
    const first = await provisionTestServer(settings(), opts());
    const wrapper = path.join(testServerCacheDir(cacheDir), 'temporal-test-server');
    expect(first).toMatchObject({ path: wrapper, source: 'maven' });
    expect(lines.join('\n')).toMatch(
      new RegExp(`resolving io.temporal:temporal-test-server:${TEST_SERVER_VERSION} from Maven Central ... done in`),
    );
    // The fake java exits at once, so there is no class-data archive, and provisioning still succeeds.
    expect(lines.join('\n')).toMatch(/no class-data-sharing archive/);
    expect(fs.readdirSync(testServerCacheDir(cacheDir)).sort()).toEqual(['lib', 'temporal-test-server']);

    // sdk-core runs `<exe> <port>`; exec hands the port straight to the JVM.
    const ran = execFileSync(wrapper, ['7777'], { env: { PATH: `${bin}:/usr/bin:/bin` } }).toString().trim();
    expect(ran).toMatch(/^java .* -cp \/\S+\/lib\/\* io\.temporal\.testserver\.TestServer 7777$/);
    expect(ran).not.toMatch(/enable-time-skipping/);

    await expect(provisionTestServer(settings(), opts())).resolves.toMatchObject({ path: wrapper, source: 'cache' });
    expect(fs.readFileSync(count, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  test('with no java or mvn, one error names them and the variable to set', async () => {
    executable(path.join(bin, 'java'));
    const err = await provisionTestServer(settings(), opts()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProvisionError);
    expect((err as Error).message).toMatch(/`mvn` not on PATH/);
    expect((err as Error).message).toMatch(/set TEMPORAL_TEST_SERVER_PATH/);
  });
});
