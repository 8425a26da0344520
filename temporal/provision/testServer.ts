import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { findFreePort } from '../devServer';
import { isExecutable, which } from './common';

/** The Java time-skipping test server from Maven Central: its pom, exec wrapper and class-data archive. */

export const TEST_SERVER_ARTIFACT = 'io.temporal:temporal-test-server';
export const TEST_SERVER_VERSION = '1.38.0';
/** The test server logs through slf4j; without a binding it prints a warning on every start. */
const SLF4J_VERSION = '1.7.36';
/**
 * sdk-core gives the test server ~5 s to answer. Measured on this 2-core machine, a cold JVM
 * takes ~1 s idle and 1.3-2.9 s with both cores busy; C1-only JIT and the serial GC trim
 * that a little, the class-data archive (writeCdsArchive) halves it. Xshare:auto keeps a
 * stale archive from being fatal.
 */
const JVM_FLAGS = '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto';
const CDS_ARCHIVE = 'test-server.jsa';

export function testServerPom(): string {
  const [groupId, artifactId] = TEST_SERVER_ARTIFACT.split(':');
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.wa-booking</groupId>
  <artifactId>temporal-test-server-deps</artifactId>
  <version>0</version>
  <dependencies>
    <dependency><groupId>${groupId}</groupId><artifactId>${artifactId}</artifactId><version>${TEST_SERVER_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-nop</artifactId><version>${SLF4J_VERSION}</version></dependency>
  </dependencies>
</project>
`;
}

export function testServerWrapper(): string {
  return `#!/bin/sh
# ${TEST_SERVER_ARTIFACT}:${TEST_SERVER_VERSION} from Maven Central, provisioned by wa-booking (temporal/provision/testServer.ts).
# sdk-core runs this as \`<exe> <port>\` and stops it with SIGKILL: exec, so the signal reaches the JVM.
# The class-data archive only loads for this exact class path (physical, hence pwd -P); else it is skipped quietly.
dir=$(cd "$(dirname "$0")" && pwd -P)
exec "\${JAVA_HOME:+$JAVA_HOME/bin/}java" ${JVM_FLAGS} -XX:SharedArchiveFile="$dir/${CDS_ARCHIVE}" -Xlog:cds=off -Xlog:cds+dynamic=off \\
  -cp "$dir/lib/*" io.temporal.testserver.TestServer "$@"
`;
}

/**
 * A dynamic AppCDS archive of the classes a start-up loads: createTimeSkipping() went from
 * ~0.95 s to ~0.4 s idle, and from 1.3-2.0 s to ~0.8 s with both cores busy, well inside
 * sdk-core's window. The JVM dumps it on exit and it records the class path, so it is
 * written from the final directory.
 */
export async function writeCdsArchive(java: string, dir: string, env: NodeJS.ProcessEnv): Promise<void> {
  const real = fs.realpathSync(dir);
  const archive = path.join(real, CDS_ARCHIVE);
  const partial = `${archive}.tmp-${process.pid}`;
  const port = await findFreePort();
  const args = [`-XX:ArchiveClassesAtExit=${partial}`, ...JVM_FLAGS.split(' '), '-cp', `${real}/lib/*`];
  const child = spawn(java, [...args, 'io.temporal.testserver.TestServer', String(port)], { env, stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const died = exited.then((code) => Promise.reject(new Error(`the test server exited with ${code}`)));
  died.catch(() => {});
  const answers = async () => {
    const connection = await Connection.connect({ address: `127.0.0.1:${port}`, connectTimeout: 1000 });
    try {
      // The calls every test makes first, so their classes are archived too.
      await connection.withDeadline(Date.now() + 5000, async () => {
        await connection.workflowService.getSystemInfo({});
        await connection.workflowService.describeNamespace({ namespace: 'default' });
      });
    } finally {
      await connection.close();
    }
  };
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await Promise.race([answers(), died]);
        break;
      } catch (err) {
        if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  if (!fs.existsSync(partial)) throw new Error('the JVM wrote no archive');
  fs.renameSync(partial, archive);
}

export /** The java the wrapper will run: JAVA_HOME's, else the one on PATH. */
function findJava(env: NodeJS.ProcessEnv): string | undefined {
  const fromHome = env.JAVA_HOME && path.join(env.JAVA_HOME, 'bin', 'java');
  return fromHome && isExecutable(fromHome) ? fromHome : which('java', env);
}

