package acl

// Subject identifiers (Core §2.5.5, node identifier allocations; §9.10.5.7.3,
// subject semantics).
const (
	// MinOperationalNodeID and MaxOperationalNodeID bound the operational
	// node IDs, the subjects of CASE sessions.
	MinOperationalNodeID uint64 = 0x0000_0000_0000_0001
	MaxOperationalNodeID uint64 = 0xFFFF_FFEF_FFFF_FFFF

	// CATSubjectPrefix is the upper half of a CASE Authenticated Tag as an
	// ACL subject: 0xFFFF_FFFD_iiii_vvvv for identifier iiii and version
	// vvvv (§6.6.2.1.2). It is not an operational node ID; it is only a
	// way to name a CAT in a 64-bit subject list.
	CATSubjectPrefix uint64 = 0xFFFF_FFFD_0000_0000

	// MaxGroupID is the largest group ID; group ID 0 is the null group
	// and names nothing.
	MaxGroupID = 0xFFFF
)

// CATSubject returns the ACL subject that names the CASE Authenticated Tag
// cat (32 bits: identifier ‖ version).
func CATSubject(cat uint32) uint64 { return CATSubjectPrefix | uint64(cat) }

// SubjectCAT returns the CASE Authenticated Tag a subject names, and whether
// it is in the CAT range at all.
func SubjectCAT(subject uint64) (cat uint32, ok bool) {
	if subject&0xFFFF_FFFF_0000_0000 != CATSubjectPrefix {
		return 0, false
	}
	return uint32(subject), true
}

// IsOperationalNodeID reports whether id is an operational node ID.
func IsOperationalNodeID(id uint64) bool {
	return id >= MinOperationalNodeID && id <= MaxOperationalNodeID
}

// ValidCASESubject reports whether subject may appear in the subject list of
// an entry with the CASE auth mode: an operational node ID, or a CAT whose
// version is not 0 (a CAT version must be at least 1, §6.6.2.1.2). AddNOC
// applies the same rule to its CaseAdminSubject (§11.18.6.8,
// InvalidAdminSubject).
func ValidCASESubject(subject uint64) bool {
	if IsOperationalNodeID(subject) {
		return true
	}
	cat, ok := SubjectCAT(subject)
	return ok && cat&0xFFFF != 0
}

// ValidGroupSubject reports whether subject may appear in the subject list
// of an entry with the Group auth mode: a group ID other than 0.
func ValidGroupSubject(subject uint64) bool {
	return subject >= 1 && subject <= MaxGroupID
}

// catMatches reports whether an entry subject naming CAT want is satisfied
// by the session's CATs: same identifier, and a version at least the one
// the entry names (§6.6.6, "both are CAT with matching CAT ID and acceptable
// CAT version").
func catMatches(want uint32, have [3]uint32) bool {
	if want&0xFFFF == 0 {
		return false // not a valid CAT; Validate keeps it out of tables
	}
	for _, c := range have {
		if c&0xFFFF == 0 {
			continue // unused slot, or an invalid CAT: matches nothing
		}
		if c>>16 == want>>16 && c&0xFFFF >= want&0xFFFF {
			return true
		}
	}
	return false
}
