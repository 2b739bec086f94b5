/**
 * One table of what a domain / subdomain may be, for both copies of the rule: the runtime's
 * parseServiceUrl (test/lib/service-url.test.ts) and the editor's validator in
 * resources/validators.js, run in the real editor (test/editor/validators.editor.ts). A case
 * added here is checked on both sides, so the two cannot drift apart again.
 *
 * `problem` is what the editor reports (its error key is the field name + problem, e.g.
 * domainInsecure); the runtime refuses the same input with a ConfigError.
 */
export interface ServiceUrlCase {
  input: string;
  allowInsecure?: boolean;
  /** null when valid. */
  problem: null | 'Missing' | 'Spaces' | 'Invalid' | 'Scheme' | 'Userinfo' | 'Path' | 'Insecure';
}

export const SERVICE_URL_CASES: readonly ServiceUrlCase[] = [
  { input: 'acme.sangamcrm.com', problem: null },
  { input: 'crm.example.com:8443', problem: null },
  { input: 'https://crm.example.com', problem: null },
  { input: 'https://crm.example.com/', problem: null },
  { input: 'HTTPS://CRM.Example.COM:443/', problem: null },
  { input: '  https://crm.example.com:9443  ', problem: null },
  { input: 'https://[2001:db8::1]:8443', problem: null },
  { input: 'http://127.0.0.1:8080', problem: null },
  { input: 'http://127.9.9.9', problem: null },
  { input: 'http://localhost:3000/', problem: null },
  { input: 'http://api.localhost', problem: null },
  { input: 'http://[::1]:8080', problem: null },
  { input: 'http://[0:0:0:0:0:0:0:1]', problem: null },
  // IPv4-mapped loopback: URL rewrites [::ffff:127.0.0.1] as [::ffff:7f00:1]. The editor's copy
  // used to call this insecure.
  { input: 'http://[::ffff:127.0.0.1]:8080', problem: null },
  { input: 'http://[::ffff:127.1.2.3]', problem: null },
  { input: 'http://[::ffff:10.0.0.1]', problem: 'Insecure' },
  { input: 'http://crm.example.com', problem: 'Insecure' },
  { input: 'http://127.0.0.1.nip.io', problem: 'Insecure' },
  { input: 'http://localhost.example.com', problem: 'Insecure' },
  { input: 'http://[::2]', problem: 'Insecure' },
  { input: 'http://crm.example.com', allowInsecure: true, problem: null },
  { input: 'http://10.0.0.5:8080', allowInsecure: true, problem: null },
  { input: 'https://crm.example.com/api', problem: 'Path' },
  { input: 'crm.example.com/v1/', problem: 'Path' },
  { input: 'crm.example.com?x=1', problem: 'Path' },
  { input: 'crm.example.com#x', problem: 'Path' },
  { input: 'https://u:p@crm.example.com', problem: 'Userinfo' },
  { input: 'https://user@crm.example.com', problem: 'Userinfo' },
  { input: 'ftp://crm.example.com', problem: 'Scheme' },
  { input: 'crm example.com', problem: 'Spaces' },
  { input: 'crm.example.com\t', problem: null },
  { input: 'crm.exa\u0001mple.com', problem: 'Spaces' },
  { input: '', problem: 'Missing' },
  { input: '   ', problem: 'Missing' },
  { input: 'https://', problem: 'Invalid' },
  { input: 'http://exa mple', problem: 'Spaces' },
  { input: 'https://crm.example.com:99999', problem: 'Invalid' },
];
