/**
 * Vendor sample payloads, with where each comes from: the one copy that the source modules' unit
 * tests (test/sources/*.test.ts), the runtime tests of the telephony input formats
 * (test/sangam-call-log-sources.test.ts) and the system examples (test/examples/) all use.
 */

/** The agent directory of the tests' sangam-config (property `agents`), as the unit tests' one. */
export const AGENTS = [
  { name: 'Asha', extension: '201', phone: '+91 98123 45678', userId: 'u-asha', email: 'asha@example.com' },
  { name: 'Ravi', extension: '202', phone: '09876543210', userId: 'u-ravi', email: 'ravi@example.com' },
  { name: 'Mina', extension: '203', phone: '', userId: 'u-mina', email: 'mina@example.com' },
];

/**
 * Twilio status callback. The parameters and their formats are those Twilio documents for the
 * status callback: https://www.twilio.com/docs/voice/api/call-resource#statuscallback
 * (CallSid, AccountSid, From, To, CallStatus, ApiVersion, Direction, ParentCallSid, plus
 * CallDuration, RecordingUrl, RecordingSid, RecordingDuration, Timestamp (RFC 2822),
 * CallbackSource, SequenceNumber) and the status values of
 * https://www.twilio.com/docs/voice/api/call-resource#call-status-values. Every value is a
 * string, as Node-RED's http in node parses application/x-www-form-urlencoded.
 */
export function twilioStatusCallback(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const fields: Record<string, string | undefined> = {
    AccountSid: 'AC0123456789abcdef0123456789abcdef',
    ApiVersion: '2010-04-01',
    CallSid: 'CA5f7b1c2e8a1d4e0012c3b4a5d6e7f809',
    CallStatus: 'completed',
    CallDuration: '42',
    Direction: 'outbound-api',
    From: '+919812345678',
    To: '+14155552671',
    Called: '+14155552671',
    Caller: '+919812345678',
    Timestamp: 'Tue, 02 Mar 2021 21:12:56 +0000',
    CallbackSource: 'call-progress-events',
    SequenceNumber: '3',
    RecordingUrl: 'https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Recordings/RE0123456789abcdef0123456789abcdef',
    RecordingSid: 'RE0123456789abcdef0123456789abcdef',
    RecordingDuration: '40',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Record<string, string>;
}

/** Twilio's incoming-call request (https://www.twilio.com/docs/usage/webhooks/voice-webhooks). */
export const TWILIO_INCOMING = {
  AccountSid: 'AC0123456789abcdef0123456789abcdef',
  ApiVersion: '2010-04-01',
  CallSid: 'CA1d2e3f40000000000000000000000001',
  CallStatus: 'ringing',
  Direction: 'inbound',
  From: '+14155552671',
  To: '+919812345678',
  Caller: '+14155552671',
  Called: '+919812345678',
  CallerCountry: 'US',
};

/**
 * Twilio's documented signature example ("Secure your webhooks",
 * twilio.com/docs/usage/webhooks/webhooks-security): auth token 12345, this URL and parameters.
 */
export const TWILIO_DOC = {
  token: '12345',
  url: 'https://mycompany.com/myapp.php?foo=1&bar=2',
  params: { CallSid: 'CA1234567890ABCDE', Caller: '+14158675310', Digits: '1234', From: '+14158675310', To: '+18005551212' },
  signature: 'GvWf1cFY/Q7PnoempGyD5oXAezc=',
};

/**
 * The AMI Cdr event of an inbound call answered at extension 202, as cdr_manager writes it on the
 * AMI socket, raw text. The keys and their order are those of
 * https://docs.asterisk.org/Asterisk_20_Documentation/API_Documentation/AMI_Events/Cdr/ and of
 * cdr_manager.c (asterisk/asterisk, cdr/cdr_manager.c: manager_event(EVENT_FLAG_CDR, "Cdr", ...),
 * times as DATE_FORMAT "%Y-%m-%d %T" in the server's local time, AnswerTime left empty when the
 * call was not answered, [mappings] in cdr_manager.conf appending e.g. "LinkedID: ...").
 */
export const AMI_CDR_TEXT = [
  'Event: Cdr',
  'Privilege: cdr,all',
  'AccountCode: ',
  'Source: 9812000001',
  'Destination: 202',
  'DestinationContext: from-internal',
  'CallerID: "Customer" <9812000001>',
  'Channel: PJSIP/trunk-00000012',
  'DestinationChannel: PJSIP/202-00000013',
  'LastApplication: Dial',
  'LastData: PJSIP/202,30,tT',
  'StartTime: 2024-05-02 10:20:00',
  'AnswerTime: 2024-05-02 10:20:06',
  'EndTime: 2024-05-02 10:21:17',
  'Duration: 77',
  'BillableSeconds: 71',
  'Disposition: ANSWERED',
  'AMAFlags: DOCUMENTATION',
  'UniqueID: 1714645200.18',
  'UserField: ',
  'LinkedID: 1714645200.18',
  '',
  '',
].join('\r\n');

/**
 * One CDR of a ring group call as CDR columns (a hangup handler's CURL() post or a cdr table row;
 * https://docs.asterisk.org/Configuration/Reporting/Call-Detail-Records-CDR/CDR-Variables/): Asterisk
 * writes one per dial attempt, all with the call's linkedid. Values are strings, as form fields.
 */
export function asteriskRingGroupCdr(extension: string, disposition: 'ANSWERED' | 'NO ANSWER', sequence: string): Record<string, string> {
  const answered = disposition === 'ANSWERED';
  const billsec = answered ? 71 : 0;
  return {
    calldate: '2024-05-02 11:00:00', clid: '"Customer" <9812000002>', src: '9812000002', dst: '600', dcontext: 'ext-group',
    channel: 'PJSIP/trunk-00000030', dstchannel: `PJSIP/${extension}-0000003${sequence}`, lastapp: 'Dial', lastdata: `PJSIP/${extension},20`,
    start: '2024-05-02 11:00:00', answer: answered ? '2024-05-02 11:00:04' : '', end: answered ? '2024-05-02 11:01:15' : '2024-05-02 11:00:20',
    duration: answered ? '75' : '20', billsec: String(billsec), disposition, amaflags: '3', accountcode: '',
    uniqueid: '1714647600.32', userfield: '', linkedid: '1714647600.32', sequence, recordingfile: answered ? 'rg-600-9812000002-20240502-110000-1714647600.32.wav' : '',
  };
}

/**
 * A JSON CDR that mod_json_cdr wrote for a real call (extension 1001 calling 1002 on a
 * FreeSWITCH host in UTC+2), published in cgrates/cgrates, general_tests/fsevcorelate_test.go
 * (`jsonCdr`), trimmed here to the parts the mapper reads and their neighbours; values unchanged.
 * Field names and where they live (variables, callflow[].caller_profile, the encode-values and
 * encode settings) per https://developer.signalwire.com/freeswitch/module-reference/event-handlers/mod_json_cdr/
 * and https://developer.signalwire.com/freeswitch/FreeSWITCH-Explained/Modules/mod_json_cdr_4653124
 * `variables` are merged over the sample's; `callflow`, when given, replaces the sample's.
 */
export function freeswitchJsonCdr(variables: Record<string, string> = {}, callflow?: unknown): Record<string, unknown> {
  return {
    'core-uuid': 'feef0b51-7fdf-4c4a-878e-aff233752de2',
    channel_data: { state: 'CS_REPORTING', direction: 'inbound', state_number: '11' },
    variables: {
      direction: 'inbound',
      uuid: '86cfd6e2-dbda-45a3-b59d-f683ec368e8b',
      session_id: '5',
      sip_from_user: '1001',
      channel_name: 'sofia/internal/1001@192.168.56.74',
      effective_caller_id_name: 'Extension 1001',
      effective_caller_id_number: '1001',
      user_name: '1001',
      sip_req_user: '1002',
      call_uuid: '86cfd6e2-dbda-45a3-b59d-f683ec368e8b',
      RFC2822_DATE: 'Tue, 08 Apr 2014 21:10:21 +0200',
      dialed_extension: '1002',
      dialed_user: '1002',
      bridge_uuid: '402f0929-fa14-4a5f-9642-3a1311bb4ddd',
      last_sent_callee_id_name: 'Outbound Call',
      last_sent_callee_id_number: '1002',
      hangup_cause: 'NORMAL_CLEARING',
      hangup_cause_q850: '16',
      start_stamp: '2014-04-08 21:10:21',
      answer_stamp: '2014-04-08 21:10:27',
      end_stamp: '2014-04-08 21:10:42',
      start_epoch: '1396984221',
      answer_epoch: '1396984227',
      end_epoch: '1396984242',
      duration: '21',
      billsec: '15',
      ...variables,
    },
    // Older mod_json_cdr wrote "callflow" once per profile as repeated keys: JSON.parse keeps the
    // last one, profile_index 1 here. Current versions write an array.
    callflow: callflow ?? {
      dialplan: 'XML',
      profile_index: '1',
      caller_profile: {
        username: '1001', dialplan: 'XML', caller_id_name: '1001', ani: '1001', caller_id_number: '1001', network_addr: '192.168.56.1',
        rdnis: '', destination_number: '1002', uuid: '86cfd6e2-dbda-45a3-b59d-f683ec368e8b', source: 'mod_sofia', context: 'default',
        chan_name: 'sofia/internal/1001@192.168.56.74',
      },
      times: { created_time: '1396984221278217', answered_time: '1396984227717006', hangup_time: '1396984242257026' },
    },
  };
}

export function exotelStatusCallback(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    CallSid: 'b6cfaf5a6e1d4c6e9d5d1a8a0f1c2d3e',
    EventType: 'terminal',
    Status: 'completed',
    DateCreated: '2024-05-01 10:00:00',
    DateUpdated: '2024-05-01 10:02:10',
    To: '09876543210',
    From: '08012345678',
    PhoneNumberSid: '08047112233',
    StartTime: '2024-05-01 10:00:05',
    EndTime: '2024-05-01 10:02:05',
    ConversationDuration: 95,
    Direction: 'inbound',
    RecordingUrl: 'https://recordings.example.com/b6cf.mp3',
    ...overrides,
  };
}

/**
 * The Passthru applet's query for an incoming call: the query parameters of
 * https://support.exotel.com/support/solutions/articles/48283-working-with-passthru-applet
 * (CallSid, CallFrom, CallTo, Direction incoming/outbound-dial, Created, DialCallDuration,
 * StartTime, EndTime, CallType, DialWhomNumber, CurrentTime, From, To, ...), with values in the
 * forms Exotel sends them (Created 'Tue, 03 Sep 2024 11:44:54', CurrentTime '2024-09-03 11:44:54').
 */
export const EXOTEL_PASSTHRU = {
  CallSid: '9953099079d70b89bbc1aa43ae6d1893',
  CallFrom: '09901320691',
  CallTo: '08069891522',
  Direction: 'incoming',
  Created: 'Tue, 03 Sep 2024 11:44:54',
  DialCallDuration: '0',
  StartTime: '2024-09-03 11:44:54',
  EndTime: '1970-01-01 05:30:00',
  CallType: 'call-attempt',
  DialWhomNumber: '09876543210',
  From: '09901320691',
  To: '08069891522',
  CurrentTime: '2024-09-03 11:44:56',
};

/**
 * AMI DialBegin of the call of AMI_CDR_TEXT ringing extension 202
 * (https://docs.asterisk.org/Asterisk_20_Documentation/API_Documentation/AMI_Events/DialBegin/).
 */
export const AMI_DIAL_BEGIN = {
  Event: 'DialBegin', Privilege: 'call,all', Channel: 'PJSIP/trunk-00000012', ChannelState: '4', ChannelStateDesc: 'Ring',
  CallerIDNum: '9812000001', CallerIDName: 'Customer', ConnectedLineNum: '<unknown>', ConnectedLineName: '<unknown>', Language: 'en',
  AccountCode: '', Context: 'from-trunk', Exten: '202', Priority: '2', Uniqueid: '1714645200.18', Linkedid: '1714645200.18',
  DestChannel: 'PJSIP/202-00000013', DestChannelState: '0', DestChannelStateDesc: 'Down', DestCallerIDNum: '202', DestCallerIDName: 'Ravi',
  DestConnectedLineNum: '9812000001', DestConnectedLineName: 'Customer', DestLanguage: 'en', DestAccountCode: '', DestContext: 'from-internal',
  DestExten: '202', DestPriority: '1', DestUniqueid: '1714645200.19', DestLinkedid: '1714645200.18', DialString: '202',
};
