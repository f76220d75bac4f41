from tests import factories as f


def test_happy_path_adult(db_url, clock):
    f.seed()
    ref = f.open_case(clock)
    case = f.drive_to(ref, "closed", clock)
    assert case.state == "closed"


def test_happy_path_minor(db_url, clock):
    f.seed()
    ref = f.open_case(clock, minor=True)
    case = f.drive_to(ref, "closed", clock)
    assert case.state == "closed"
