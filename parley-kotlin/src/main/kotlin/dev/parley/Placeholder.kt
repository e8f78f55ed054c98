package dev.parley

/** Placeholder. */
public object Placeholder
