/**
 * A URL as it may be printed or logged: credentials in its user-info part (`http://user:password@host`) are
 * replaced by `<redacted>`. The text is not parsed, so that a URL too broken to parse is redacted as well; the
 * user-info ends at the last `@` before the path, as in the WHATWG URL parser.
 */
export const redactUrl = (url: string): string => url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, "$1<redacted>@")
