package dev.parley.internal

import java.util.concurrent.atomic.AtomicLong

/**
 * Counts an outcome before the caller waiting on it hears of it: increments, runs [settle] (which completes that
 * caller's result), and takes the count back if [settle] did not settle it (someone else was first). A caller that
 * reads the metrics right after its result completes then sees its own outcome counted. Returns what [settle] did.
 */
internal inline fun AtomicLong.countIf(settle: () -> Boolean): Boolean {
    incrementAndGet()
    return settle().also { if (!it) decrementAndGet() }
}
