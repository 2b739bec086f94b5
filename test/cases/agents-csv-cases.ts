/**
 * One table of what the agent directory's CSV import reads, for both copies of the rule: the
 * runtime's parseAgentsCsv (src/sangam/agent-directory.ts, test/sangam/agent-directory-csv.test.ts)
 * and the editor's parser in resources/validators.js, run in the real editor by the config
 * dialog's Import CSV (test/editor/agents.editor.ts). A case added here is checked on both sides.
 *
 * `agents` is the result for good text; `error` the whole message for bad text (the editor shows
 * it to the user, so it must name the line the same way on both sides).
 */
export interface AgentsCsvAgent {
  name: string;
  extension: string;
  phone: string;
  userId: string;
  email: string;
}

export interface AgentsCsvCase {
  title: string;
  text: string;
  agents?: AgentsCsvAgent[];
  error?: string;
}

const agent = (fields: Partial<AgentsCsvAgent>): AgentsCsvAgent => ({ name: '', extension: '', phone: '', userId: '', email: '', ...fields });

export const AGENTS_CSV_CASES: readonly AgentsCsvCase[] = [
  {
    title: 'all five columns in the documented order',
    text: 'name,extension,phone,userId,email\nAsha Rao,201,+91 98123 45678,u-asha,asha@example.com\n',
    agents: [agent({ name: 'Asha Rao', extension: '201', phone: '+91 98123 45678', userId: 'u-asha', email: 'asha@example.com' })],
  },
  {
    title: 'a spreadsheet export: BOM, CRLF, header in another order and case, "User ID", a blank line',
    text: '\uFEFFEmail,Name,Extension,Phone,User ID\r\nasha@example.com,Asha,201,09812345678,u-asha\r\n\r\nravi@example.com,Ravi,202,,u-ravi\r\n',
    agents: [
      agent({ name: 'Asha', extension: '201', phone: '09812345678', userId: 'u-asha', email: 'asha@example.com' }),
      agent({ name: 'Ravi', extension: '202', userId: 'u-ravi', email: 'ravi@example.com' }),
    ],
  },
  {
    title: 'quoted fields holding a comma, a doubled quote and a line break',
    text: 'name,extension\n"Rao, Asha",201\n"Ravi ""R"" Kumar",202\n"Two\nLines",203\n',
    agents: [agent({ name: 'Rao, Asha', extension: '201' }), agent({ name: 'Ravi "R" Kumar', extension: '202' }), agent({ name: 'Two\nLines', extension: '203' })],
  },
  {
    title: 'header aliases (ext, mobile, user_id, mail), spaces around cells, a short row and no final newline',
    text: ' ext , mobile ,user_id, mail \n 201 , 98123 45678 , u1 , a@example.com \n202',
    agents: [agent({ extension: '201', phone: '98123 45678', userId: 'u1', email: 'a@example.com' }), agent({ extension: '202' })],
  },
  {
    title: 'a header row only',
    text: 'name,extension,phone,userId,email\n',
    agents: [],
  },
  {
    title: 'an unknown column, named with its line',
    text: 'name,department\nAsha,Sales\n',
    error: 'CSV line 1: unknown column "department"; the header names some of name, extension, phone, userId, email',
  },
  {
    title: 'a row with more fields than the header, named with its line (blank lines counted)',
    text: 'name,extension\nAsha,201\n\nRavi,202,extra\n',
    error: 'CSV line 4 has 3 fields, the header 2',
  },
  {
    title: 'a long row after a quoted line break, named with its line (the break counted)',
    text: 'name,extension\n"Two\nLines",203\nRavi,202,9\n',
    error: 'CSV line 4 has 3 fields, the header 2',
  },
  {
    title: 'an unclosed quote, named with the line where its row starts',
    text: 'name,extension\n"Asha,201\n',
    error: 'CSV line 2: a quoted field is not closed',
  },
  {
    title: 'empty text',
    text: '  \n',
    error: 'the CSV text is empty; expected a header row such as name,extension,phone,userId,email',
  },
];
