/*
 * The editor validators of @sangamcrm/node-red-telephony: one copy of each rule for the five node
 * definitions. Node-RED serves this file at resources/@sangamcrm/node-red-telephony/validators.js;
 * every node's .html references it first, and the editor appends a set's inline scripts only once
 * its src scripts have loaded, so SangamTelephonyValidators exists when they run (at start-up and
 * when the package is installed from the palette manager).
 *
 * The rules are those of the runtime (src/lib/service-url.ts for domains; test/cases holds the
 * cases both must agree on). They use plain JavaScript, URL and Intl only, and look at an open
 * dialog only when the caller says how to find it, so they also run headless (RED.nodes.getType(t)
 * .defaults[p].validate(value)).
 */
(function (global) {
    'use strict';
    if (global.SangamTelephonyValidators) return; // each node set loads this file: define once

    function text(v) {
        return String(v == null ? '' : v);
    }

    /**
     * A whole-value environment variable reference such as ${SANGAM_DOMAIN}: Node-RED replaces it
     * with the variable's value when the flow is deployed, so the editor cannot check it (the
     * runtime does). Same form as Node-RED's own RED.validators.number.
     */
    function isEnvRef(v) {
        return typeof v === 'string' && /^\$\{[^}\s]+\}$/.test(v);
    }

    /** True for 127.0.0.0/8, ::1, IPv4-mapped loopback and localhost (and names under .localhost). */
    function isLoopbackHost(hostname) {
        var host = text(hostname).replace(/^\[|\]$/g, '').toLowerCase();
        if (host === 'localhost' || /\.localhost$/.test(host)) return true;
        if (host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
        if (/^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) return true;
        // URL writes an IPv4-mapped address in hex: [::ffff:127.0.0.1] becomes [::ffff:7f00:1].
        if (/^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(host)) return true;
        return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
    }

    /**
     * The runtime's parseServiceUrl as a verdict: null when valid, else what is wrong
     * ('Missing', 'Spaces', 'Invalid', 'Scheme', 'Userinfo', 'Path', 'Insecure').
     */
    function serviceUrlProblem(value, allowInsecure) {
        var raw = text(value).trim();
        if (raw === '') return 'Missing';
        if (/[\s\u0000-\u001f\u007f]/.test(raw)) return 'Spaces';
        var hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw);
        var url;
        try {
            url = new URL(hasScheme ? raw : 'https://' + raw);
        } catch (e) {
            return 'Invalid';
        }
        if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'Scheme';
        if (url.username || url.password) return 'Userinfo';
        if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) return 'Path';
        if (!url.hostname) return 'Invalid';
        if (url.protocol === 'http:' && !(allowInsecure === true || allowInsecure === 'true') && !isLoopbackHost(url.hostname)) {
            return 'Insecure';
        }
        return null;
    }

    /** A whole number from min to max, as typed ("10000") or stored (10000). */
    function isIntegerIn(value, min, max) {
        var s = text(value).trim();
        if (!/^[0-9]+$/.test(s)) return false;
        var n = Number(s);
        return n >= min && n <= max;
    }

    /** An IANA zone name the browser knows ("Asia/Kolkata", "UTC"); no bare offsets such as "+05:30". */
    function isTimeZone(zone) {
        if (!/^[A-Za-z][A-Za-z0-9_+\-]*(\/[A-Za-z0-9_+\-]+)*$/.test(zone)) return false;
        if (typeof Intl === 'undefined' || typeof Intl.DateTimeFormat !== 'function') return true;
        try {
            new Intl.DateTimeFormat('en-US', { timeZone: zone });
            return true;
        } catch (e) {
            return false;
        }
    }

    /** A phone number: null when valid, else 'phoneLetters' or 'phone'. 6 to 16 digits, optional +, separators. */
    function phoneProblem(value) {
        var s = text(value).trim();
        if (/[A-Za-z]/.test(s)) return 'phoneLetters';
        return /^\+?[0-9]{6,16}$/.test(s.replace(/[\s.-]/g, '')) ? null : 'phone';
    }

    function isHttpUrl(value) {
        try {
            var url = new URL(text(value).trim());
            return url.protocol === 'https:' || url.protocol === 'http:';
        } catch (e) {
            return false;
        }
    }

    var AGENT_FIELDS = ['name', 'extension', 'phone', 'userId', 'email'];

    /** A CSV header cell as an agent field (the runtime's headerField), else undefined. */
    function agentHeaderField(cell) {
        switch (text(cell).trim().toLowerCase().replace(/[\s_-]/g, '')) {
            case 'name': return 'name';
            case 'extension': case 'ext': return 'extension';
            case 'phone': case 'mobile': return 'phone';
            case 'userid': return 'userId';
            case 'email': case 'mail': return 'email';
            default: return undefined;
        }
    }

    function csvError(message) {
        var error = new Error(message);
        error.name = 'ValidationError';
        return error;
    }

    /** RFC 4180 rows ({line, cells}) of CSV text; blank lines skipped; line = where the row starts. */
    function csvRows(input) {
        var rows = [];
        var cells = [];
        var cell = '';
        var quoted = false;
        var line = 1;
        var rowLine = 1;
        var i = input.charCodeAt(0) === 0xfeff ? 1 : 0; // a BOM from a spreadsheet's export
        function endRow() {
            cells.push(cell);
            if (!(cells.length === 1 && cells[0].trim() === '')) rows.push({ line: rowLine, cells: cells });
            cells = [];
            cell = '';
        }
        for (; i < input.length; i += 1) {
            var ch = input[i];
            if (quoted) {
                if (ch === '"') {
                    if (input[i + 1] === '"') {
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
                if (ch === '\r' && input[i + 1] === '\n') i += 1;
                endRow();
                line += 1;
                rowLine = line;
            } else {
                cell += ch;
            }
        }
        if (quoted) throw csvError('CSV line ' + rowLine + ': a quoted field is not closed');
        endRow();
        return rows;
    }

    /**
     * Agents from CSV text: the rule of the runtime's parseAgentsCsv (src/sangam/agent-directory.ts),
     * with the same messages; test/cases/agents-csv-cases.ts holds the cases both must agree on.
     * A header row naming some of name, extension, phone, userId, email (any order and case,
     * `user id`/`user_id` too), then one agent per row. Throws an Error naming the line.
     */
    function parseAgentsCsv(input) {
        var rows = csvRows(text(input));
        if (rows.length === 0) throw csvError('the CSV text is empty; expected a header row such as name,extension,phone,userId,email');
        var header = rows[0].cells.map(agentHeaderField);
        var unknown = rows[0].cells.filter(function (cell, i) { return header[i] === undefined; });
        if (unknown.length > 0) {
            throw csvError('CSV line ' + rows[0].line + ': unknown column "' + unknown[0].slice(0, 40) + '"; the header names some of name, extension, phone, userId, email');
        }
        return rows.slice(1).map(function (row) {
            if (row.cells.length > header.length) {
                throw csvError('CSV line ' + row.line + ' has ' + row.cells.length + ' fields, the header ' + header.length);
            }
            var agent = { name: '', extension: '', phone: '', userId: '', email: '' };
            row.cells.forEach(function (cell, i) {
                if (header[i]) agent[header[i]] = cell.trim();
            });
            return agent;
        });
    }

    /**
     * The IANA zones offered in time-zone fields: Intl.supportedValuesOf('timeZone') of the browser
     * (plus UTC, which Chromium leaves out of the list but accepts). The runtime checks a zone
     * with Node's Intl.DateTimeFormat; the editor test checks that Node accepts every zone listed.
     */
    function timeZones() {
        var zones = [];
        if (typeof Intl !== 'undefined' && typeof Intl.supportedValuesOf === 'function') {
            try {
                zones = Intl.supportedValuesOf('timeZone').map(function (zone) {
                    var current = RENAMED_ZONES[zone];
                    return current && isTimeZone(current) ? current : zone;
                });
            } catch (e) { /* older browser: free text only */ }
        }
        if (zones.indexOf('UTC') < 0) zones.push('UTC');
        return zones.sort();
    }

    /**
     * ICU (in V8, so in Node and Chromium alike) lists some zones under the names they had before
     * IANA renamed them: Asia/Calcutta, not Asia/Kolkata. The list offers today's name; both names
     * stay valid (Intl takes either, so does the runtime).
     */
    var RENAMED_ZONES = {
        'Asia/Calcutta': 'Asia/Kolkata',
        'Asia/Katmandu': 'Asia/Kathmandu',
        'Asia/Rangoon': 'Asia/Yangon',
        'Asia/Saigon': 'Asia/Ho_Chi_Minh',
        'Europe/Kiev': 'Europe/Kyiv',
        'Atlantic/Faeroe': 'Atlantic/Faroe',
        'America/Godthab': 'America/Nuuk',
        'Pacific/Truk': 'Pacific/Chuuk',
        'Pacific/Ponape': 'Pacific/Pohnpei',
        'Pacific/Enderbury': 'Pacific/Kanton',
        'America/Buenos_Aires': 'America/Argentina/Buenos_Aires',
        'America/Catamarca': 'America/Argentina/Catamarca',
        'America/Cordoba': 'America/Argentina/Cordoba',
        'America/Jujuy': 'America/Argentina/Jujuy',
        'America/Mendoza': 'America/Argentina/Mendoza',
        'America/Indianapolis': 'America/Indiana/Indianapolis',
        'America/Louisville': 'America/Kentucky/Louisville'
    };

    /** Fills a <datalist> with timeZones() (once per dialog). */
    function fillTimeZones(datalist) {
        if (!datalist || typeof datalist.empty !== 'function') return;
        datalist.empty();
        timeZones().forEach(function (zone) {
            datalist.append($('<option>').attr('value', zone));
        });
    }

    /**
     * Node-RED's palette (setLabel) breaks a label at spaces AND hyphens and joins the pieces with
     * spaces, so "call pop-up" shows as "call pop - up". The label keeps its plain hyphen (the
     * palette filter matches what the user types, "pop-up"); this lays the shown text out again,
     * breaking at spaces only, as wide as Node-RED allows (82 px).
     */
    function keepHyphensInPaletteLabel(type) {
        if (typeof $ !== 'function' || !global.RED || !global.RED.view || typeof global.RED.view.calculateTextWidth !== 'function') return;
        var entry = $(".red-ui-palette-node[data-palette-type='" + type + "']");
        var label = entry.attr('data-palette-label');
        if (entry.length === 0 || !label || label.indexOf('-') < 0) return;
        var words = label.split(' ');
        var lines = [];
        var current = '';
        words.forEach(function (word) {
            var candidate = current === '' ? word : current + ' ' + word;
            if (current !== '' && global.RED.view.calculateTextWidth(candidate, 'red-ui-palette-label') >= 82) {
                lines.push(current);
                current = word;
            } else {
                current = candidate;
            }
        });
        lines.push(current);
        var shown = entry.find('.red-ui-palette-label').empty();
        lines.forEach(function (line, i) {
            if (i > 0) shown.append('<br/>');
            shown.append(document.createTextNode(line));
        });
        entry.css({ height: (8 + 20 * lines.length) + 'px' });
        entry.find('.red-ui-palette-port').css({ top: ((8 + 20 * lines.length) / 2 - 5) + 'px' });
    }

    /** Applies keepHyphensInPaletteLabel to `type` now and whenever the palette adds it again. */
    function paletteLabelKeepsHyphens(type) {
        if (!global.RED || !global.RED.events) return;
        global.RED.events.on('registry:node-type-added', function (added) {
            if (added === type) setTimeout(function () { keepHyphensInPaletteLabel(type); }, 0);
        });
        setTimeout(function () { keepHyphensInPaletteLabel(type); }, 0);
    }

    var rules = {
        isEnvRef: isEnvRef,
        isLoopbackHost: isLoopbackHost,
        serviceUrlProblem: serviceUrlProblem,
        isIntegerIn: isIntegerIn,
        isTimeZone: isTimeZone,
        phoneProblem: phoneProblem,
        isHttpUrl: isHttpUrl,
        parseAgentsCsv: parseAgentsCsv,
        timeZones: timeZones,
        AGENT_FIELDS: AGENT_FIELDS
    };

    var ui = {
        fillTimeZones: fillTimeZones,
        paletteLabelKeepsHyphens: paletteLabelKeepsHyphens
    };

    /**
     * Node-RED validators for one node type: each returns true, or (called with `opt`, as the editor
     * does for its messages) the translated `<type>.errors.<key>` message, else false.
     * `dialogValue(id, fallback)` reads a field of the type's open dialog, else returns fallback.
     */
    function forType(type, dialogValue) {
        dialogValue = dialogValue || function (id, fallback) { return fallback; };

        function t(key, params) {
            try {
                var def = global.RED.nodes.getType(type);
                if (def && typeof def._ === 'function') return def._(type + '.errors.' + key, params);
            } catch (e) { /* headless: no catalog */ }
            return key;
        }

        function result(errorKey, opt, params) {
            if (!errorKey) return true;
            return opt ? t(errorKey, params) : false;
        }

        /** Wraps a check of a set value: a ${NAME} reference passes, and so does '' when optional. */
        function rule(check, optional) {
            return function (v, opt) {
                if (isEnvRef(v)) return true;
                if (optional && text(v).trim() === '') return true;
                return check.call(this, v, opt);
            };
        }

        function integerIn(min, max, optional) {
            return rule(function (v, opt) {
                return result(isIntegerIn(v, min, max) ? null : 'range', opt, { min: min, max: max });
            }, optional);
        }

        var typedInputValidator = null;

        return {
            result: result,
            integerIn: function (min, max) { return integerIn(min, max, false); },
            optionalIntegerIn: function (min, max) { return integerIn(min, max, true); },
            /** domain / subdomain: the runtime's rule; `field` prefixes the error key (domainInsecure). */
            serviceUrl: function (field) {
                return rule(function (v, opt) {
                    var allow = dialogValue('allowInsecure', this && this.allowInsecure);
                    var problem = serviceUrlProblem(v, allow);
                    return result(problem ? field + problem : null, opt);
                });
            },
            timeZone: rule(function (v, opt) {
                return result(isTimeZone(text(v).trim()) ? null : 'timezone', opt);
            }, true),
            /** No spaces or control characters ('' allowed). */
            noSpaces: function (key) {
                return rule(function (v, opt) {
                    return result(/[\s\u0000-\u001f\u007f]/.test(text(v)) ? key : null, opt);
                });
            },
            matches: function (pattern, key) {
                return rule(function (v, opt) {
                    return result(pattern.test(text(v).trim()) ? null : key, opt);
                });
            },
            optionalPhone: rule(function (v, opt) {
                return result(phoneProblem(v), opt);
            }, true),
            optionalHttpUrl: rule(function (v, opt) {
                return result(isHttpUrl(v) ? null : 'url', opt);
            }, true),
            /**
             * `validator` applies only while the node's input format (the open dialog's, else the
             * saved one) is `format`: a Twilio URL left behind after choosing another format is not
             * an error.
             */
            whenFormat: function (format, validator) {
                return function (v, opt) {
                    var current = dialogValue('inputFormat', this && this.inputFormat);
                    if (current !== format) return true;
                    return validator.call(this, v, opt);
                };
            },
            oneOf: function (values, key) {
                return function (v, opt) {
                    return result(values.indexOf(text(v)) >= 0 ? null : key || 'option', opt);
                };
            },
            /** A TypedInput ivrName with ivrNameType str ('' = the server's IVR name, no spaces) or env/flow/global (a name). */
            ivrName: function (v, opt) {
                var value = text(v);
                var kind = dialogValue('ivrNameType', this && this.ivrNameType) || 'str';
                if (kind === 'str' && isEnvRef(v)) return true;
                if (kind === 'str') return result(/[\s\u0000-\u001f\u007f]/.test(value) ? 'ivrName' : null, opt);
                if (['env', 'flow', 'global'].indexOf(kind) < 0) return result('ivrNameType', opt);
                if (value.trim() === '') return result('ivrNameRef', opt);
                if (!typedInputValidator && global.RED && global.RED.validators && typeof global.RED.validators.typedInput === 'function') {
                    typedInputValidator = global.RED.validators.typedInput({ typeField: 'ivrNameType' });
                }
                return typedInputValidator ? typedInputValidator.call(this, v, opt) : true;
            }
        };
    }

    global.SangamTelephonyValidators = { rules: rules, forType: forType, ui: ui };
})(typeof window !== 'undefined' ? window : globalThis);
