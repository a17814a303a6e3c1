/* version.h - the release version, printed by `jitgate version`. */
#ifndef JITGATE_VERSION_H
#define JITGATE_VERSION_H

#define JG_VERSION "0.1.0"

#endif
