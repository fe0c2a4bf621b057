package com.acme;

public final class Lib {
    private Lib() {}

    /** Which deploy this is; the test fills in BUILD. */
    public static String build() {
        return "BUILD";
    }
}
