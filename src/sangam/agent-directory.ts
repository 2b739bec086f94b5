import { ValidationError } from '../lib/errors';
import { isPlainObject } from './call-record';

/**
 * The agent directory of a sangam-config: which CRM user sits behind an extension or a phone.
 * Looked up for every call and pop-up, so each lookup is one Map get on a normalised key.
 */

export interface Agent {
  name: string;
  extension: string;
  phone: string;
  userId: string;
  email: string;
}

export const AGENT_FIELDS = ['name', 'extension', 'phone', 'userId', 'email'] as const;
type AgentField = (typeof AGENT_FIELDS)[number];

export const MAX_AGENTS = 10_000;
const MAX_FIELD_LENGTH = 200;

/**
 * The key a phone number is filed under: its digits, without the prefixes that the same Indian
 * number is written with (+91, 0091, 91, 0), so that 09812345678, +91 98123 45678 and 9812345678
 * meet. Other numbers keep their digits (an international prefix 00 is dropped like +).
 * Undefined when there are no digits.
 */
export function phoneKey(raw: string): string | undefined {
  // Runs for every call: one pass over the characters, no regex unless it is a URI.
  let text = raw;
  if (text.includes(':') || text.includes('@')) text = text.trim().replace(/^(?:sips?|tel):/i, '').replace(/@.*$/, '');
  let digits = '';
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code >= 48 && code <= 57) digits += text[i];
    // Separators people write numbers with: space, ( ) + - . /
    else if (code !== 32 && code !== 40 && code !== 41 && code !== 43 && code !== 45 && code !== 46 && code !== 47) return undefined;
  }
  if (digits === '') return undefined;
  if (digits.startsWith('00')) digits = digits.slice(2);
  if (digits.length === 12 && digits.startsWith('91')) return digits.slice(2);
  if (digits.length === 11 && digits.startsWith('0')) return digits.slice(1);
  return digits;
}

function emailKey(raw: string): string {
  return raw.trim().toLowerCase();
}

/** An extension as the PBX writes it; SIP URIs are reduced to their user part. */
function extensionKey(raw: string): string {
  const text = raw.trim();
  return text.includes(':') || text.includes('@') ? text.replace(/^(?:sips?|tel):/i, '').replace(/@.*$/, '') : text;
}

export class AgentDirectory {
  private readonly agents: readonly Agent[];
  private readonly extensions = new Map<string, Agent>();
  private readonly phones = new Map<string, Agent>();
  private readonly userIds = new Map<string, Agent>();
  private readonly emails = new Map<string, Agent>();
  /** Position of each agent in the list, for error messages. */
  private readonly indexes = new Map<Agent, number>();

  /**
   * Checks a list as stored in flows.json (any field may be empty or missing). Two agents with
   * the same extension, phone, user id or email are an error: a call could not say whose it is.
   * Throws ValidationError naming `agents[i].field`.
   */
  constructor(list: unknown) {
    if (list === undefined || list === null || list === '') list = [];
    if (!Array.isArray(list)) throw new ValidationError('agents must be a list of {name, extension, phone, userId, email}', 'agents');
    if (list.length > MAX_AGENTS) throw new ValidationError(`agents has ${list.length} entries; at most ${MAX_AGENTS} are accepted`, 'agents');
    const agents: Agent[] = [];
    list.forEach((entry: unknown, index) => {
      const agent = checkAgent(entry, index);
      agents.push(agent);
      this.indexes.set(agent, index);
      this.file(this.extensions, agent.extension === '' ? undefined : extensionKey(agent.extension), agent, index, 'extension');
      this.file(this.phones, agent.phone === '' ? undefined : phoneKey(agent.phone), agent, index, 'phone');
      this.file(this.userIds, agent.userId === '' ? undefined : agent.userId, agent, index, 'userId');
      this.file(this.emails, agent.email === '' ? undefined : emailKey(agent.email), agent, index, 'email');
      if (agent.phone !== '' && phoneKey(agent.phone) === undefined) {
        throw new ValidationError(`agents[${index}].phone "${agent.phone}" has no digits`, `agents[${index}].phone`);
      }
    });
    this.agents = agents;
  }

  get size(): number {
    return this.agents.length;
  }

  list(): readonly Agent[] {
    return this.agents;
  }

  byExtension(extension: string): Agent | undefined {
    return this.extensions.get(extensionKey(extension));
  }

  byPhone(number: string): Agent | undefined {
    const key = phoneKey(number);
    return key === undefined ? undefined : this.phones.get(key);
  }

  byUserId(userId: string): Agent | undefined {
    return this.userIds.get(userId.trim());
  }

  byEmail(email: string): Agent | undefined {
    return this.emails.get(emailKey(email));
  }

  /** A number a telephony system knows (an extension first, then a phone in any of its spellings). */
  byNumber(number: string): Agent | undefined {
    return this.byExtension(number) ?? this.byPhone(number);
  }

  /** Click-to-call's `from`: an extension, a user id, an email or a phone of an agent. */
  resolve(reference: string): Agent | undefined {
    const text = reference.trim();
    if (text === '') return undefined;
    return this.byExtension(text) ?? this.byUserId(text) ?? (text.includes('@') ? this.byEmail(text) : undefined) ?? this.byPhone(text);
  }

  private file(map: Map<string, Agent>, key: string | undefined, agent: Agent, index: number, field: AgentField): void {
    if (key === undefined || key === '') return;
    const earlier = map.get(key);
    if (earlier) {
      const other = this.indexes.get(earlier) ?? -1;
      throw new ValidationError(
        `agents[${index}].${field} "${agent[field]}" is also the ${field} of agents[${other}]${earlier.name ? ` (${earlier.name})` : ''}: each may belong to one agent`,
        `agents[${index}].${field}`,
      );
    }
    map.set(key, agent);
  }
}

function checkAgent(entry: unknown, index: number): Agent {
  if (!isPlainObject(entry)) {
    throw new ValidationError(`agents[${index}] must be an object {name, extension, phone, userId, email}`, `agents[${index}]`);
  }
  const agent: Agent = { name: '', extension: '', phone: '', userId: '', email: '' };
  for (const field of AGENT_FIELDS) {
    const value = entry[field];
    if (value === undefined || value === null) continue;
    // A number typed into a JSON editor (an extension 201) is meant as text.
    const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
    if (typeof text !== 'string') {
      throw new ValidationError(`agents[${index}].${field} must be text`, `agents[${index}].${field}`);
    }
    if (text.length > MAX_FIELD_LENGTH || /[\u0000-\u001f\u007f]/.test(text)) {
      throw new ValidationError(`agents[${index}].${field} must be at most ${MAX_FIELD_LENGTH} characters without control characters`, `agents[${index}].${field}`);
    }
    agent[field] = text.trim();
  }
  return agent;
}

/**
 * Agents from CSV text (the dialog's import): a header row naming some of name, extension,
 * phone, userId, email (any order, any case, `user id`/`user_id` accepted), then one agent per
 * row. Fields may be quoted with "", a quote inside written as "". Blank lines are skipped.
 * Throws ValidationError naming the line.
 */
export function parseAgentsCsv(text: string): Agent[] {
  const rows = parseCsv(text);
  if (rows.length === 0) throw new ValidationError('the CSV text is empty; expected a header row such as name,extension,phone,userId,email', 'csv');
  const header = rows[0].cells.map((cell) => headerField(cell));
  const unknown = rows[0].cells.filter((_, i) => header[i] === undefined);
  if (unknown.length > 0) {
    throw new ValidationError(
      `CSV line ${rows[0].line}: unknown column "${unknown[0].slice(0, 40)}"; the header names some of name, extension, phone, userId, email`,
      'csv',
    );
  }
  const agents: Agent[] = [];
  for (const row of rows.slice(1)) {
    if (row.cells.length > header.length) {
      throw new ValidationError(`CSV line ${row.line} has ${row.cells.length} fields, the header ${header.length}`, 'csv');
    }
    const agent: Agent = { name: '', extension: '', phone: '', userId: '', email: '' };
    row.cells.forEach((cell, i) => {
      const field = header[i];
      if (field) agent[field] = cell.trim();
    });
    agents.push(agent);
  }
  return agents;
}

function headerField(cell: string): AgentField | undefined {
  const name = cell.trim().toLowerCase().replace(/[\s_-]/g, '');
  switch (name) {
    case 'name': return 'name';
    case 'extension': case 'ext': return 'extension';
    case 'phone': case 'mobile': return 'phone';
    case 'userid': return 'userId';
    case 'email': case 'mail': return 'email';
    default: return undefined;
  }
}

interface CsvRow {
  line: number;
  cells: string[];
}

/** RFC 4180 CSV: commas, CRLF or LF, "quoted" fields that may hold commas, quotes ("") and line breaks. */
function parseCsv(text: string): CsvRow[] {
  const rows: CsvRow[] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a BOM from a spreadsheet's export
  const endRow = (): void => {
    cells.push(cell);
    if (!(cells.length === 1 && cells[0].trim() === '')) rows.push({ line: rowLine, cells });
    cells = [];
    cell = '';
  };
  for (; i < text.length; i += 1) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i += 1;
        } else {
          quoted = false;
        }
      } else {
        if (ch === '\n') line += 1;
        cell += ch;
      }
      continue;
    }
    if (ch === '"' && cell.trim() === '') {
      quoted = true;
      cell = '';
    } else if (ch === ',') {
      cells.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i += 1;
      endRow();
      line += 1;
      rowLine = line;
    } else {
      cell += ch;
    }
  }
  if (quoted) throw new ValidationError(`CSV line ${rowLine}: a quoted field is not closed`, 'csv');
  endRow();
  return rows;
}
