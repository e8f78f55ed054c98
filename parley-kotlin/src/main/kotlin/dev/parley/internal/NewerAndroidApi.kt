package dev.parley.internal

/**
 * Marks a function that calls an API newer than Parley's minimum Android level and copes with its absence (a
 * `NoSuchMethodError` guard); the build's Android API check (animal-sniffer) skips what it marks.
 */
@Retention(AnnotationRetention.BINARY)
@Target(AnnotationTarget.FUNCTION)
internal annotation class NewerAndroidApi
