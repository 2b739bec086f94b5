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

    var rules = {
        isEnvRef: isEnvRef,
        isLoopbackHost: isLoopbackHost,
        serviceUrlProblem: serviceUrlProblem,
        isIntegerIn: isIntegerIn,
        isTimeZone: isTimeZone,
        phoneProblem: phoneProblem,
        isHttpUrl: isHttpUrl
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
            oneOf: function (values) {
                return function (v, opt) {
                    return result(values.indexOf(text(v)) >= 0 ? null : 'option', opt);
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

    global.SangamTelephonyValidators = { rules: rules, forType: forType };
})(typeof window !== 'undefined' ? window : globalThis);
