/*
 * codes.c -- RFC 5321 reply codes and the IANA SMTP Enhanced Status Codes registry as constant
 * tables, with parsing, validity checks and lookups. No I/O, no allocation.
 */
#include <stddef.h>

#include "codes.h"

/*
 * Enhanced status codes, keyed by subject.detail and sorted by (subject, detail). Titles are the
 * registry's sample texts; "replies" lists the associated basic reply codes the registry gives
 * ("" when it gives none or says "any").
 */
static const struct enh_code_info enh_table[] = {
    /* X.0.x: other or undefined */
    {0, 0, "Other undefined Status",
     "No more specific reason was given, so only the class (success, temporary or permanent) is "
     "known and the reply text is the best clue to the cause.",
     "", "RFC 3463"},

    /* X.1.x: addressing */
    {1, 0, "Other address status",
     "Something about a sender or recipient address caused the report without a more specific "
     "code; check both addresses and the reply text.",
     "", "RFC 3463"},
    {1, 1, "Bad destination mailbox address",
     "The destination says the recipient mailbox does not exist, typically a typo in the local "
     "part or a deleted account; correct or remove the address.",
     "451, 550", "RFC 3463"},
    {1, 2, "Bad destination system address",
     "The recipient's domain or host does not exist or cannot take mail, usually a misspelt "
     "domain or one without working MX or address records.",
     "", "RFC 3463"},
    {1, 3, "Bad destination mailbox address syntax",
     "The recipient address is malformed (stray characters, missing @, bad quoting) and was "
     "refused before any mailbox lookup.",
     "501", "RFC 3463"},
    {1, 4, "Destination mailbox address ambiguous",
     "The recipient address matches more than one mailbox at the destination, so a more specific "
     "address is needed.",
     "", "RFC 3463"},
    {1, 5, "Destination address valid",
     "A positive report that the recipient address was accepted as valid, normally seen with "
     "success replies rather than failures.",
     "250", "RFC 3463"},
    {1, 6, "Destination mailbox has moved, No forwarding address",
     "The recipient address used to work but has been retired without a forwarding address, "
     "typical of people who left an organisation.",
     "", "RFC 3463"},
    {1, 7, "Bad sender's mailbox address syntax",
     "The envelope sender address is malformed, often a misconfigured application or a broken "
     "sender rewriting rule.",
     "", "RFC 3463"},
    {1, 8, "Bad sender's system address",
     "The sender's domain does not exist or cannot receive replies, so the receiver refuses mail "
     "it could not bounce; check the envelope sender domain's DNS.",
     "451, 501", "RFC 3463"},
    {1, 9, "Message relayed to non-compliant mailer",
     "The address was valid but the message was handed to a system that cannot report delivery "
     "status, so no further notification will follow.",
     "", "RFC 3886"},
    {1, 10, "Recipient address has null MX",
     "The recipient domain publishes a null MX record stating that it never accepts mail, so "
     "delivery cannot succeed and the address should be dropped.",
     "556", "RFC 7505, RFC 7504"},

    /* X.2.x: mailbox */
    {2, 0, "Other or undefined mailbox status",
     "The recipient mailbox exists but something about it prevented delivery without a more "
     "specific reason; see the reply text.",
     "", "RFC 3463"},
    {2, 1, "Mailbox disabled, not accepting messages",
     "The recipient mailbox exists but is disabled or suspended, for example a locked or inactive "
     "account, and may or may not be re-enabled.",
     "", "RFC 3463"},
    {2, 2, "Mailbox full",
     "The recipient is over quota; a temporary 4.2.2 often clears once mail is deleted, while a "
     "permanent one usually means an abandoned mailbox.",
     "552", "RFC 3463"},
    {2, 3, "Message length exceeds administrative limit",
     "The message is larger than the size limit configured for this recipient's mailbox; send it "
     "smaller or share large files by link.",
     "552", "RFC 3463"},
    {2, 4, "Mailing list expansion problem",
     "The recipient is a mailing list or alias whose member list could not be expanded, usually "
     "a fault on the list server.",
     "450, 452", "RFC 3463"},

    /* X.3.x: mail system */
    {3, 0, "Other or undefined mail system status",
     "The destination mail system normally accepts mail but refused or failed this message for "
     "an unstated system-level reason.",
     "221, 250, 421, 451, 550, 554", "RFC 3463"},
    {3, 1, "Mail system full",
     "The destination mail system has run out of storage such as disk or queue space, usually a "
     "temporary condition the remote administrator must clear.",
     "452", "RFC 3463"},
    {3, 2, "System not accepting network messages",
     "The destination host is not accepting mail at all, for example during shutdown, "
     "maintenance or overload, or because it never takes mail.",
     "453, 521", "RFC 3463, RFC 7504"},
    {3, 3, "System not capable of selected features",
     "The destination cannot honour a feature the message asked for, such as a requested SMTP "
     "extension, somewhere along the delivery path.",
     "", "RFC 3463"},
    {3, 4, "Message too big for system",
     "The message exceeds the destination server's overall size limit; reduce attachments or "
     "have the limit raised.",
     "552, 554", "RFC 3463"},
    {3, 5, "System incorrectly configured",
     "A configuration error on the reporting system prevented delivery, which its administrator "
     "needs to fix.",
     "", "RFC 3463"},
    {3, 6, "Requested priority was changed",
     "The message was accepted with a different priority than the sender requested (MT-PRIORITY), "
     "and the reply text gives the priority used.",
     "250, 251", "RFC 6710"},

    /* X.4.x: network and routing */
    {4, 0, "Other or undefined network or routing status",
     "A network or routing problem occurred that fits no more specific code; check connectivity "
     "and DNS toward the destination.",
     "", "RFC 3463"},
    {4, 1, "No answer from host",
     "The next-hop server did not answer the connection attempt, typically because it is down, "
     "firewalled or unreachable; usually retried.",
     "451", "RFC 3463"},
    {4, 2, "Bad connection",
     "A connection was made but dropped or timed out before the transaction finished, often "
     "network trouble or an overloaded or throttling peer.",
     "421", "RFC 3463"},
    {4, 3, "Directory server failure",
     "A directory service such as DNS could not be consulted, for instance a resolver timeout or "
     "SERVFAIL, so routing could not proceed.",
     "451, 550", "RFC 3463"},
    {4, 4, "Unable to route",
     "No next hop could be determined for the destination from DNS or routing data, for example "
     "a domain with no usable MX or address records.",
     "", "RFC 3463"},
    {4, 5, "Mail system congestion",
     "The mail system is congested and deferred the message; retries normally succeed once the "
     "load drops.",
     "451", "RFC 3463"},
    {4, 6, "Routing loop detected",
     "The message was forwarded too many times, usually a mail loop between misconfigured "
     "servers or forwarding rules.",
     "", "RFC 3463"},
    {4, 7, "Delivery time expired",
     "The message stayed queued past its maximum lifetime and was given up; the earlier "
     "temporary errors for it show the underlying cause.",
     "", "RFC 3463"},

    /* X.5.x: mail delivery protocol */
    {5, 0, "Other or undefined protocol status",
     "An SMTP protocol problem with the next hop occurred that fits no more specific code.",
     "220, 250, 251, 252, 253, 451, 452, 454, 458, 459, 501, 502, 503, 554", "RFC 3463"},
    {5, 1, "Invalid command",
     "The server did not accept a command because it is unknown, not allowed at this point of the "
     "session, or not supported.",
     "430, 500, 501, 503, 530, 550, 554, 555", "RFC 3463"},
    {5, 2, "Syntax error",
     "The server could not parse a command, often a broken client, an over-long line or garbage "
     "on the connection.",
     "500, 501, 502, 550, 555", "RFC 3463"},
    {5, 3, "Too many recipients",
     "More recipients were given than the server accepts in one transaction, so the sender must "
     "split the list or retry the rest later.",
     "451", "RFC 3463"},
    {5, 4, "Invalid command arguments",
     "The command was valid but one of its arguments or parameters was not, such as an "
     "unsupported MAIL FROM extension parameter.",
     "451, 501, 502, 503, 504, 550, 555", "RFC 3463"},
    {5, 5, "Wrong protocol version",
     "The two sides disagree about the protocol version in use, so the transaction could not "
     "continue.",
     "", "RFC 3463"},
    {5, 6, "Authentication Exchange line is too long",
     "A line of the SMTP AUTH exchange was longer than the server accepts, often an oversized "
     "token or credential.",
     "500", "RFC 4954"},

    /* X.6.x: message content or media */
    {6, 0, "Other or undefined media error",
     "Something about the message content prevented delivery without a more specific reason, for "
     "example content refused by a filter.",
     "", "RFC 3463"},
    {6, 1, "Media not supported",
     "The message uses a media type or encoding that the delivery path does not support.", "",
     "RFC 3463"},
    {6, 2, "Conversion required and prohibited",
     "The content would have to be converted to be delivered, but the sender or the message "
     "forbids conversion.",
     "", "RFC 3463"},
    {6, 3, "Conversion required but not supported",
     "The content needs a conversion that no system on the path can perform, classically 8-bit "
     "data toward a server without 8BITMIME.",
     "554", "RFC 3463"},
    {6, 4, "Conversion with loss performed",
     "The message was delivered, but a conversion along the way lost part of its content.", "250",
     "RFC 3463"},
    {6, 5, "Conversion Failed",
     "A required content conversion was attempted and failed, so the message could not be "
     "delivered.",
     "", "RFC 3463"},
    {6, 6, "Message content not available",
     "The submission server could not fetch the referenced message content (BURL), for example "
     "because the IMAP server refused access.",
     "554", "RFC 4468"},
    {6, 7, "Non-ASCII addresses not permitted for that sender/recipient",
     "An internationalized (non-ASCII) address was used where it is not allowed, typically a "
     "server or next hop without SMTPUTF8 support.",
     "553, 550", "RFC 6531"},
    {6, 8, "UTF-8 string reply is required, but not permitted by the SMTP client",
     "The server needed to answer with UTF-8 text, but the client had not announced SMTPUTF8 "
     "support.",
     "252, 553, 550", "RFC 6531"},
    {6, 9,
     "UTF-8 header message cannot be transferred to one or more recipients, so the message must "
     "be rejected",
     "The message carries UTF-8 headers and a recipient's server lacks SMTPUTF8, so it cannot be "
     "delivered unchanged and is rejected.",
     "550", "RFC 6531"},
    {6, 10, "",
     "Deprecated duplicate of X.6.8 (a UTF-8 reply was needed but the client did not allow it); "
     "treat it the same way.",
     "", "RFC 6531"},

    /* X.7.x: security or policy */
    {7, 0, "Other or undefined security status",
     "A security or policy problem occurred without a more specific code, such as a local policy "
     "rejection or a TLS or authentication issue.",
     "220, 235, 450, 454, 500, 501, 503, 504, 530, 535, 550", "RFC 3463"},
    {7, 1, "Delivery not authorized, message refused",
     "The receiver refused the message by policy, most often spam filtering, a blocklisted IP, "
     "relaying denied or a sender not allowed for this recipient.",
     "451, 454, 502, 503, 533, 550, 551", "RFC 3463"},
    {7, 2, "Mailing list expansion prohibited",
     "The sender is not allowed to post to this mailing list, for example a members-only or "
     "moderated list.",
     "550", "RFC 3463"},
    {7, 3, "Security conversion required but not possible",
     "The message would have to be converted between secure messaging formats, which cannot be "
     "done on this path.",
     "", "RFC 3463"},
    {7, 4, "Security features not supported",
     "The message or session asked for a security feature that the delivery path does not "
     "support.",
     "504", "RFC 3463"},
    {7, 5, "Cryptographic failure",
     "A system that had to verify or decrypt the message could not, because a needed key was "
     "missing or invalid.",
     "", "RFC 3463"},
    {7, 6, "Cryptographic algorithm not supported",
     "A system that had to verify or decrypt the message does not support the cryptographic "
     "algorithm used.",
     "", "RFC 3463"},
    {7, 7, "Message integrity failure",
     "The message was found to be corrupted or altered in transit by an integrity check.", "",
     "RFC 3463"},
    {7, 8, "Authentication credentials invalid",
     "SMTP AUTH failed because the username or password was wrong, common with misconfigured "
     "clients and password-guessing attacks.",
     "535, 554", "RFC 4954"},
    {7, 9, "Authentication mechanism is too weak",
     "The chosen SMTP AUTH mechanism is weaker than the server's policy allows, so the client must "
     "use a stronger one.",
     "534", "RFC 4954"},
    {7, 10, "Encryption Needed",
     "The requested authentication mechanism may only be used over an encrypted connection, so "
     "the client must start TLS first.",
     "523", "RFC 5248"},
    {7, 11, "Encryption required for requested authentication mechanism",
     "Older code saying the AUTH mechanism needs an encrypted session; the client should issue "
     "STARTTLS before authenticating.",
     "524, 538", "RFC 4954"},
    {7, 12, "A password transition is needed",
     "The user must authenticate once with a plain password mechanism so the server can set up "
     "credentials for the requested mechanism.",
     "422, 432", "RFC 4954"},
    {7, 13, "User Account Disabled",
     "The account used for SMTP authentication has been disabled by an administrator.", "525",
     "RFC 5248"},
    {7, 14, "Trust relationship required",
     "The submission server needs a trust relationship with a third-party server, such as the "
     "one holding BURL content, that is not in place.",
     "535, 554", "RFC 5248"},
    {7, 15, "Priority Level is too low",
     "The server currently accepts only messages above the requested MT-PRIORITY level; resubmit "
     "later or at a higher priority.",
     "450, 550", "RFC 6710"},
    {7, 16, "Message is too big for the specified priority",
     "The message is too large to be accepted at the requested MT-PRIORITY level, though it may "
     "be accepted at another one.",
     "552", "RFC 6710"},
    {7, 17, "Mailbox owner has changed",
     "Require-Recipient-Valid-Since check: the recipient mailbox changed owner after the date "
     "the sender last confirmed it, so the message was not delivered.",
     "5XX", "RFC 7293"},
    {7, 18, "Domain owner has changed",
     "Require-Recipient-Valid-Since check: the recipient domain changed owner after the date the "
     "sender last confirmed it, so the message was not delivered.",
     "5XX", "RFC 7293"},
    {7, 19, "RRVS test cannot be completed",
     "The receiver could not perform the Require-Recipient-Valid-Since check because it lacks "
     "the account history the check needs.",
     "5XX", "RFC 7293"},
    {7, 20, "No passing DKIM signature found",
     "The message was refused because no DKIM signature on it verified, often broken signing or "
     "a body modified in transit.",
     "550", "RFC 7372, RFC 6376"},
    {7, 21, "No acceptable DKIM signature found",
     "DKIM signatures verified but none met the receiver's policy, for example signed by an "
     "unexpected domain or with weak parameters.",
     "550", "RFC 7372, RFC 6376"},
    {7, 22, "No valid author-matched DKIM signature found",
     "No verifying DKIM signature came from the domain in the From: header, so an author-domain "
     "alignment policy failed.",
     "550", "RFC 7372, RFC 6376"},
    {7, 23, "SPF validation failed",
     "The sending IP is not authorized by the sender domain's SPF record, and the receiver "
     "rejected the message for it.",
     "550", "RFC 7372, RFC 7208"},
    {7, 24, "SPF validation error",
     "The SPF check could not be completed because of a DNS error or a broken SPF record "
     "(temperror or permerror).",
     "451, 550", "RFC 7372, RFC 7208"},
    {7, 25, "Reverse DNS validation failed",
     "The connecting IP address lacks matching reverse and forward DNS, which the receiver "
     "requires before accepting mail.",
     "550", "RFC 7372, RFC 7601"},
    {7, 26, "Multiple authentication checks failed",
     "Several authentication checks such as SPF and DKIM failed together, typical of spoofed "
     "mail or a sender missing from its own domain's records.",
     "550", "RFC 7372"},
    {7, 27, "Sender address has null MX",
     "The sender domain publishes a null MX saying it receives no mail, so the receiver refuses "
     "mail it could never return.",
     "550", "RFC 7505"},
    {7, 28, "Mail flood detected",
     "The message looks like part of a flood of similar unwanted mail, such as a "
     "subscription-bombing attack, and was refused.",
     "", "draft-levine-mailbomb-header"},
    {7, 29, "ARC validation failure",
     "The message's Authenticated Received Chain (ARC) headers failed validation, so "
     "authentication results from earlier forwarders could not be trusted.",
     "550", "RFC 8617"},
    {7, 30, "REQUIRETLS support required",
     "The message demanded REQUIRETLS but the next hop does not offer it, so it could not be "
     "relayed with the required TLS guarantees.",
     "550", "RFC 8689"},
};

#define ENH_COUNT (sizeof(enh_table) / sizeof(enh_table[0]))

/* Basic reply codes, sorted by code. */
static const struct reply_code_info reply_table[] = {
    {211, "System status, or a reply to a help request.", "RFC 5321"},
    {214, "Help text meant for a human reading the session.", "RFC 5321"},
    {220, "Service ready: the server's greeting banner.", "RFC 5321"},
    {221, "Service closing the connection, normally after QUIT.", "RFC 5321"},
    {235, "SMTP authentication succeeded.", "RFC 4954"},
    {250, "Requested action completed.", "RFC 5321"},
    {251, "Recipient is not local; the server will forward the message.", "RFC 5321"},
    {252, "Server cannot verify the user but will accept the message and try to deliver it.",
     "RFC 5321"},
    {334, "Server challenge during SMTP authentication (base64 text follows).", "RFC 4954"},
    {354, "Ready for the message body, which ends with a line holding a single dot.", "RFC 5321"},
    {421,
     "Service not available and closing the connection, often overload, rate limiting or "
     "shutdown; retry later.",
     "RFC 5321"},
    {432, "A password transition is needed before this authentication mechanism can be used.",
     "RFC 4954"},
    {450, "Mailbox temporarily unavailable, for example busy, locked or greylisted; retry later.",
     "RFC 5321"},
    {451,
     "Action aborted by a local error on the server, often a temporary lookup or filter "
     "failure.",
     "RFC 5321"},
    {452, "Insufficient system storage, or too many recipients for now; retry later.", "RFC 5321"},
    {454, "Temporary authentication failure, or TLS not available right now.",
     "RFC 4954, RFC 3207"},
    {455, "Server cannot accommodate the MAIL FROM or RCPT TO parameters at this time.",
     "RFC 5321"},
    {458, "Unable to queue messages for the node named in ETRN.", "RFC 1985"},
    {459, "Node not allowed to start queue processing with ETRN.", "RFC 1985"},
    {500, "Syntax error, command not recognised (also used for over-long command lines).",
     "RFC 5321"},
    {501, "Syntax error in the command's parameters or arguments.", "RFC 5321"},
    {502, "Command not implemented by this server.", "RFC 5321"},
    {503, "Bad sequence of commands, such as RCPT before MAIL.", "RFC 5321"},
    {504, "Command parameter not implemented.", "RFC 5321"},
    {521, "This host does not accept mail at all.", "RFC 7504"},
    {523, "Encryption is needed before the requested authentication mechanism can be used.",
     "RFC 5248"},
    {524, "The requested authentication mechanism requires an encrypted connection.", "RFC 4954"},
    {525, "The account used for authentication is disabled.", "RFC 5248"},
    {530, "Authentication required, or STARTTLS must be issued first.", "RFC 4954, RFC 3207"},
    {533, "Refused by policy; rare, listed with X.7.1 in the enhanced status code registry.",
     "RFC 5248"},
    {534, "The authentication mechanism is too weak for the server's policy.", "RFC 4954"},
    {535, "Authentication credentials invalid.", "RFC 4954"},
    {538, "Encryption required for the requested authentication mechanism.", "RFC 4954"},
    {550, "Mailbox unavailable: not found, no access, or refused by policy.", "RFC 5321"},
    {551, "User not local; the sender should try the forward path given in the reply.", "RFC 5321"},
    {552,
     "Action aborted: storage allocation exceeded, such as a full mailbox or an oversized "
     "message.",
     "RFC 5321"},
    {553, "Mailbox name not allowed, for example bad address syntax.", "RFC 5321"},
    {554, "Transaction failed (often a policy rejection); as a greeting, no SMTP service here.",
     "RFC 5321"},
    {555, "MAIL FROM or RCPT TO parameters not recognised or not implemented.", "RFC 5321"},
    {556, "The recipient domain does not accept mail (null MX).", "RFC 7504"},
};

#define REPLY_COUNT (sizeof(reply_table) / sizeof(reply_table[0]))

const char *
codes_class_name(int cls)
{
    switch (cls) {
    case 2:
        return "success";
    case 3:
        return "positive intermediate";
    case 4:
        return "transient failure";
    case 5:
        return "permanent failure";
    default:
        return NULL;
    }
}

const char *
codes_reply_category(int reply)
{
    static const char *const categories[] = {
        "syntax", "information", "connections", "unspecified", "unspecified", "mail system",
    };
    int second;

    if (reply < 100 || reply > 599) {
        return NULL;
    }
    second = (reply / 10) % 10;
    if (second > 5) {
        return NULL;
    }
    return categories[second];
}

const char *
codes_subject_name(int subject)
{
    static const char *const subjects[] = {
        "other",
        "addressing",
        "mailbox",
        "mail system",
        "network and routing",
        "delivery protocol",
        "content or media",
        "security or policy",
    };

    if (subject < 0) {
        return NULL;
    }
    if ((size_t)subject >= sizeof(subjects) / sizeof(subjects[0])) {
        return "unassigned";
    }
    return subjects[subject];
}

const struct enh_code_info *
codes_enh_lookup(int subject, int detail)
{
    size_t lo = 0;
    size_t hi = ENH_COUNT;
    long key;

    if (subject < 0 || subject > 999 || detail < 0 || detail > 999) {
        return NULL;
    }
    key = (long)subject * 1000 + detail;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        long k = (long)enh_table[mid].subject * 1000 + enh_table[mid].detail;

        if (k == key) {
            return &enh_table[mid];
        }
        if (k < key) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

const struct enh_code_info *
codes_enh_at(size_t i)
{
    if (i >= ENH_COUNT) {
        return NULL;
    }
    return &enh_table[i];
}

const struct reply_code_info *
codes_reply_lookup(int reply)
{
    size_t lo = 0;
    size_t hi = REPLY_COUNT;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (reply_table[mid].code == reply) {
            return &reply_table[mid];
        }
        if (reply_table[mid].code < reply) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

const struct reply_code_info *
codes_reply_at(size_t i)
{
    if (i >= REPLY_COUNT) {
        return NULL;
    }
    return &reply_table[i];
}
