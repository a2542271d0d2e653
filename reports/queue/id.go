package queue

// Queue-ID syntax, from Postfix's src/global/mail_queue.h (MQID_*):
//
// Short IDs (enable_long_queue_ids = no, the default) are upper-case
// hexadecimal: exactly five digits of microseconds (MQID_SH_USEC_PAD)
// followed by the inode number in %lX, so at least six characters and at
// most 5+16 with a 64-bit inode.
//
// Long IDs (enable_long_queue_ids = yes) use the "safe" alphabet of 10
// digits, 21 upper-case and 21 lower-case consonants (no vowels): the
// seconds in base 52 (at least six characters, MQID_LG_SEC_PAD), exactly
// four characters of microseconds in base 52 (MQID_LG_USEC_PAD), the
// separator 'z' (MQID_LG_INUM_SEP) and the inode number in base 51, i.e.
// the same alphabet without 'z'. 'z' is also the highest base-52 digit, so
// Postfix finds the separator with strrchr and requires at least
// MQID_LG_TIME_PAD (10) characters before it (MQID_FIND_LG_INUM_SEPARATOR).
//
// An ID that passes these checks consists of ASCII letters and digits only,
// so printing it can never inject a newline, an option or a shell word into
// `postsuper -d -`.
const (
	shortUsecPad = 5  // MQID_SH_USEC_PAD
	shortMaxLen  = 21 // 5 + 16 hex digits of a 64-bit inode
	longTimePad  = 10 // MQID_LG_TIME_PAD = MQID_LG_SEC_PAD + MQID_LG_USEC_PAD
	longMaxLen   = 32 // 12 (2^64 s in base 52) + 4 + 1 + 12 (2^64 in base 51), rounded up
)

// IDKind says which of Postfix's two queue-ID forms an ID has.
type IDKind uint8

const (
	IDInvalid IDKind = iota // not a Postfix queue ID
	IDShort                 // upper-case hexadecimal (enable_long_queue_ids = no)
	IDLong                  // time + 'z' + inode in the safe alphabet
)

func (k IDKind) String() string {
	switch k {
	case IDShort:
		return "short"
	case IDLong:
		return "long"
	}
	return "invalid"
}

// safe52 reports whether c is in Postfix's safe alphabet
// 0-9 BCDFGHJKLMNPQRSTVWXYZ bcdfghjklmnpqrstvwxyz (safe_ultostr.c).
func safe52(c byte) bool {
	switch {
	case c >= '0' && c <= '9':
		return true
	case c >= 'A' && c <= 'Z':
		return c != 'A' && c != 'E' && c != 'I' && c != 'O' && c != 'U'
	case c >= 'a' && c <= 'z':
		return c != 'a' && c != 'e' && c != 'i' && c != 'o' && c != 'u'
	}
	return false
}

func isUpperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

// ClassifyID returns the form of a Postfix queue ID, or IDInvalid.
func ClassifyID(id string) IDKind {
	n := len(id)
	if n <= shortMaxLen && n > shortUsecPad {
		short := true
		for i := 0; i < n; i++ {
			if !isUpperHex(id[i]) {
				short = false
				break
			}
		}
		if short {
			return IDShort
		}
	}
	if n > longMaxLen {
		return IDInvalid
	}
	sep := -1
	for i := n - 1; i >= 0; i-- {
		if id[i] == 'z' {
			sep = i
			break
		}
	}
	if sep < longTimePad || sep == n-1 {
		return IDInvalid
	}
	for i := 0; i < sep; i++ {
		if !safe52(id[i]) {
			return IDInvalid
		}
	}
	for i := sep + 1; i < n; i++ { // base 51: no 'z' here by construction of sep
		if !safe52(id[i]) {
			return IDInvalid
		}
	}
	return IDLong
}

// ValidID reports whether id is a well-formed Postfix queue ID, short or
// long. Only valid IDs are ever printed for postsuper.
func ValidID(id string) bool { return ClassifyID(id) != IDInvalid }
