/**
 * Reads the package's example flows (examples/*.json) and merges several into one flows.json,
 * the way Node-RED's import does: a config node with the same id and the same content in two
 * examples is one node. Used by `npm start` and by the example tests.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

export type FlowNode = Record<string, unknown> & { id: string; type: string };

/** Ids of the example config nodes that take credentials (what a deploy must give them). */
export const SANGAM_CONFIG_ID = 'example-sangam-config';
export const EXOTEL_CONFIG_ID = 'example-exotel-config';

export interface ExampleFile {
  /** File name without `.json`: the entry Node-RED shows under Import > Examples. */
  title: string;
  file: string;
  nodes: FlowNode[];
}

/** Every examples/*.json in name order; throws naming a file that is not a flow export. */
export function readExamples(examplesDir: string): ExampleFile[] {
  return readdirSync(examplesDir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => {
      const file = join(examplesDir, name);
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (!Array.isArray(parsed) || !parsed.every(isFlowNode)) {
        throw new Error(`${name} is not a flow export (an array of nodes with id and type)`);
      }
      return { title: name.slice(0, -'.json'.length), file, nodes: parsed };
    });
}

/** The example whose file name starts with `prefix` (e.g. '04'). */
export function exampleByPrefix(examples: ReadonlyArray<ExampleFile>, prefix: string): ExampleFile {
  const found = examples.filter((example) => example.title.startsWith(prefix));
  if (found.length !== 1) throw new Error(`expected one example starting with "${prefix}", found ${found.length}`);
  return found[0]!;
}

/** One flow configuration from several examples; a shared id must carry identical content. */
export function mergeExamples(examples: ReadonlyArray<ExampleFile>): FlowNode[] {
  const byId = new Map<string, { node: FlowNode; from: string }>();
  for (const example of examples) {
    for (const node of example.nodes) {
      const seen = byId.get(node.id);
      if (!seen) byId.set(node.id, { node, from: example.title });
      else if (!isDeepStrictEqual(seen.node, node)) {
        throw new Error(`node ${node.id} differs between "${seen.from}" and "${example.title}"`);
      }
    }
  }
  return [...byId.values()].map(({ node }) => structuredClone(node));
}

function isFlowNode(value: unknown): value is FlowNode {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { id?: unknown }).id === 'string' &&
    typeof (value as { type?: unknown }).type === 'string'
  );
}
