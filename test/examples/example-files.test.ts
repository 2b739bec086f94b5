/**
 * The example files as files: importable on their own, free of secrets, documented, and together
 * using every worker node type of the package (the Flow Library's N02 check).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ExampleFile, type FlowNode, mergeExamples } from '../../dev/demo/example-flows';
import { packageRoot } from '../support/node-red-process';
import { examples } from './fixtures';

interface PackageManifest {
  files?: string[];
  'node-red'?: { nodes?: Record<string, string> };
}

const ROOT = packageRoot();
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageManifest;

/** Properties of flow nodes that hold references to other nodes, never user text. */
const REFERENCE_PROPERTIES = new Set(['id', 'z', 'g', 'wires', 'server', 'account', 'broker', 'scope', 'links']);
/** Config nodes and tabs have no wires; their `broker` (say) is a host name, not a reference. */
const isFlowNode = (node: FlowNode): boolean => 'wires' in node;
/** The environment variables the examples may read; each is documented in the comment of a file using it. */
const DOCUMENTED_ENV = new Set([
  'SANGAM_DOMAIN',
  'SANGAM_IVR_NAME',
  'MQTT_HOST',
  'MQTT_PORT',
  'EXOTEL_SID',
  'EXOTEL_SUBDOMAIN',
  'EXOTEL_CALLER_ID',
  'EXOTEL_STATUS_CALLBACK_URL',
  'TWILIO_STATUS_CALLBACK_URL',
  'TWILIO_VOICE_URL',
]);
/** http in endpoints that rely on the Twilio request signature (sangam nodes' twilioAuthToken) instead of the shared secret. */
const SIGNED_BY_TWILIO = /^\/twilio\//;

/** Every string in a value with the path to it, e.g. ['nodes[3].rules[0].to', '...']. */
function strings(value: unknown, path: string, out: Array<[string, string]> = []): Array<[string, string]> {
  if (typeof value === 'string') out.push([path, value]);
  else if (Array.isArray(value)) value.forEach((item, index) => strings(item, `${path}[${index}]`, out));
  else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) strings(item, `${path}.${key}`, out);
  }
  return out;
}

function keysDeep(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((item) => keysDeep(item, out));
  else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      out.push(key);
      keysDeep(item, out);
    }
  }
  return out;
}

/** Node types the package registers, split by the editor's category. */
function packageNodeTypes(): { workers: string[]; configs: string[] } {
  const types = Object.keys(manifest['node-red']?.nodes ?? {});
  const isConfig = (type: string): boolean =>
    /category:\s*['"]config['"]/.test(readFileSync(join(ROOT, 'nodes', `${type}.html`), 'utf8'));
  return { workers: types.filter((type) => !isConfig(type)), configs: types.filter(isConfig) };
}

function userText(example: ExampleFile): Array<[string, string]> {
  return example.nodes.flatMap((node, index) =>
    Object.entries(node)
      .filter(([key]) => !(isFlowNode(node) ? REFERENCE_PROPERTIES.has(key) : key === 'id'))
      .flatMap(([key, value]) => strings(value, `${example.title}[${index}].${key}`)),
  );
}

describe('example files', () => {
  const all = examples();

  it('are ten flow exports, named for the Import > Examples menu and shipped in the package', () => {
    assert.deepEqual(
      all.map((example) => example.title),
      [
        '01 - MQTT to call log',
        '02 - HTTP to call log',
        '03 - MQTT to call pop-up',
        '04 - HTTP to click-to-call',
        '05 - Exotel status callback to call log',
        '06 - Scale-out with MQTT shared subscriptions',
        '07 - Asterisk to call log and pop-up',
        '08 - FreeSWITCH CDR to call log',
        '09 - Twilio to call log and pop-up',
        '10 - Exotel Passthru to call pop-up',
      ],
    );
    assert.ok(manifest.files?.includes('examples/**/*.json'), 'package.json "files" must ship examples/**/*.json');
  });

  it('use every worker node type of the package (Flow Library check N02)', () => {
    const { workers, configs } = packageNodeTypes();
    assert.deepEqual(configs.sort(), ['exotel-config', 'sangam-config']);
    const used = new Set(all.flatMap((example) => example.nodes.map((node) => node.type)));
    assert.deepEqual(workers.filter((type) => !used.has(type)), [], 'worker node types in no example');
    assert.deepEqual(workers.sort(), ['exotel-click2call', 'sangam-call-log', 'sangam-notify']);
  });

  for (const example of all) {
    describe(example.title, () => {
      const byId = new Map<string, FlowNode>(example.nodes.map((node) => [node.id, node]));

      it('has one tab holding every flow node, and a comment that explains it', () => {
        const tabs = example.nodes.filter((node) => node.type === 'tab');
        assert.equal(tabs.length, 1);
        const tab = tabs[0]!;
        assert.equal(byId.size, example.nodes.length, 'duplicate ids');
        for (const node of example.nodes) {
          const isConfig = !isFlowNode(node);
          assert.equal(node.z, isConfig ? undefined : tab.id, `${node.id} must ${isConfig ? 'be global' : 'be on the tab'}`);
        }
        const comment = example.nodes.find((node) => node.type === 'comment');
        assert.ok(comment && typeof comment.info === 'string', 'a comment node with an explanation');
        assert.match(comment.info as string, /\*\*Send\*\*/, 'says what to send');
        assert.match(comment.info as string, /\*\*Expect\*\*/, 'says what to expect');
      });

      it('imports on its own: every wire and config reference points at a node in the file', () => {
        for (const node of example.nodes) {
          for (const output of (node.wires as string[][] | undefined) ?? []) {
            for (const target of output) assert.ok(byId.has(target), `${node.id} wired to missing ${target}`);
          }
          if (!isFlowNode(node)) continue;
          for (const property of ['server', 'account', 'broker']) {
            const reference = node[property];
            if (typeof reference === 'string') assert.ok(byId.has(reference), `${node.id}.${property} -> missing ${reference}`);
          }
        }
      });

      it('has no credentials and no secret-looking value', () => {
        const keys = keysDeep(example.nodes);
        for (const forbidden of ['credentials', 'token', 'apiKey', 'apiToken', 'password', 'user']) {
          assert.ok(!keys.includes(forbidden), `property "${forbidden}" in the file`);
        }
        for (const [path, text] of userText(example)) {
          assert.ok(!/\b(Basic|Bearer)\s+[A-Za-z0-9+/=._-]{8,}/.test(text), `${path} holds an Authorization value`);
          // A long run of letters mixed with digits is what API keys and tokens look like.
          const tokenLike = /\b(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{20,}\b/.exec(text);
          assert.equal(tokenLike, null, `${path} holds a token-like value: ${tokenLike?.[0]}`);
        }
      });

      it('reads deployment settings from documented ${ENV} properties that Node-RED substitutes', () => {
        const comment = example.nodes.find((node) => node.type === 'comment')!.info as string;
        for (const [path, text] of userText(example)) {
          if (path.includes('.func') || path.includes('.info')) continue;
          if (!text.includes('${')) continue;
          // Node-RED replaces a property only when the whole value is ${NAME}.
          const match = /^\$\{([A-Z0-9_]+)\}$/.exec(text);
          assert.ok(match, `${path} = ${text}: not a whole-value \${NAME}`);
          assert.ok(DOCUMENTED_ENV.has(match[1]!), `${path}: ${match[1]} is not one of the documented variables`);
          assert.ok(comment.includes(match[1]!), `${path}: the comment does not mention ${match[1]}`);
        }
      });
    });
  }

  it('guard every http in endpoint with the same shared-secret check, read from SANGAM_WEBHOOK_SECRET at run time', () => {
    const checks = new Set<string>();
    let guarded = 0;
    for (const example of all) {
      const byId = new Map(example.nodes.map((node) => [node.id, node]));
      const comment = example.nodes.find((node) => node.type === 'comment')!.info as string;
      for (const httpIn of example.nodes.filter((node) => node.type === 'http in')) {
        if (SIGNED_BY_TWILIO.test(String(httpIn.url))) continue;
        const wires = httpIn.wires as string[][];
        assert.equal(wires.length, 1, `${example.title}: ${String(httpIn.url)}`);
        assert.equal(wires[0]!.length, 1, `${example.title}: ${String(httpIn.url)} must go only to the check`);
        const check = byId.get(wires[0]![0]!)!;
        assert.equal(check.type, 'function', `${example.title}: ${String(httpIn.url)} is not wired to the shared-secret check`);
        assert.equal(check.outputs, 2);
        const refusal = byId.get((check.wires as string[][])[1]![0]!)!;
        assert.equal(refusal.type, 'http response', `${example.title}: the check's second output must answer the 401`);
        checks.add(String(check.func));
        guarded++;
        assert.match(comment, /SANGAM_WEBHOOK_SECRET/, `${example.title}: the comment must say how to send the secret`);
      }
    }
    assert.ok(guarded >= 3, `only ${guarded} guarded endpoints`);
    assert.equal(checks.size, 1, 'the shared-secret check differs between examples: change all copies together');
    const [func] = [...checks];
    assert.match(func!, /env\.get\('SANGAM_WEBHOOK_SECRET'\)|const NAME = 'SANGAM_WEBHOOK_SECRET';\s*const secret = env\.get\(NAME\)/);
  });

  it('use the native formats of each telephony system, without a function node to translate them', () => {
    const formats = (title: string): string[] =>
      all
        .find((example) => example.title === title)!
        .nodes.filter((node) => node.type === 'sangam-call-log' || node.type === 'sangam-notify')
        .map((node) => `${node.type}:${String(node.inputFormat)}`)
        .sort();
    assert.deepEqual(formats('07 - Asterisk to call log and pop-up'), ['sangam-call-log:asterisk', 'sangam-notify:asterisk']);
    assert.deepEqual(formats('08 - FreeSWITCH CDR to call log'), ['sangam-call-log:freeswitch']);
    assert.deepEqual(formats('09 - Twilio to call log and pop-up'), ['sangam-call-log:twilio', 'sangam-notify:twilio']);
    assert.deepEqual(formats('10 - Exotel Passthru to call pop-up'), ['sangam-notify:exotel']);
    const twilio = all.find((example) => example.title.startsWith('09'))!.nodes.filter((node) => /^sangam-(call-log|notify)$/.test(node.type));
    for (const node of twilio) assert.match(String(node.webhookUrl), /^\$\{TWILIO_[A-Z_]+_URL\}$/, `${node.id}: webhookUrl from the environment`);
  });

  it('share config nodes: a config node used by two examples is identical in both (import reuses it)', () => {
    const merged = mergeExamples(all);
    const configs = merged.filter((node) => !('wires' in node) && node.type !== 'tab').map((node) => node.id);
    assert.deepEqual(configs.sort(), ['example-exotel-config', 'example-mqtt-broker', 'example-mqtt-broker-v5', 'example-sangam-config']);
  });

  it('put the scale-out flows on MQTT 5 shared subscriptions of the topics examples 01 and 03 use', () => {
    const scaleOut = all.find((example) => example.title.startsWith('06'))!;
    const broker = scaleOut.nodes.find((node) => node.type === 'mqtt-broker')!;
    assert.equal(broker.protocolVersion, '5');
    const topics = scaleOut.nodes.filter((node) => node.type === 'mqtt in').map((node) => node.topic);
    const plain = all
      .filter((example) => /^0[13]/.test(example.title))
      .flatMap((example) => example.nodes.filter((node) => node.type === 'mqtt in').map((node) => node.topic));
    assert.deepEqual(topics, plain.map((topic) => `$share/sangam/${String(topic)}`));
  });
});
