/** What went wrong, in words: an `Error`'s message, or anything else as its text. */
export const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error))
