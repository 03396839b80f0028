/*
 * Tests of the sample data generator: determinism, formats, counts, modes,
 * and that the demographic signal the personalizers rely on is there.
 */
#include "sample.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CUSTOMERS_HEADER                                                       \
    "customer_id,email,phone,first_name,last_name,gender,birth_date,city,"     \
    "country,time_zone,income,children,email_marketing,sms_marketing,"         \
    "registered_at"
#define ORDERS_HEADER                                                          \
    "order_id,line,customer_id,sku,title,category,quantity,unit_price,"        \
    "currency,ordered_at"
#define EVENTS_HEADER "customer_id,type,url,sku,occurred_at"

static char dir[64];
static char err[512];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/check_sample.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Whole file DIR/SUB/NAME into a new string; *LEN gets its length. */
static char *slurp(const char *sub, const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    p[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void gen(const char *sub, const struct ecrm_sample_opts *o,
                struct ecrm_sample_stats *st)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    ck_assert_msg(ecrm_sample_generate_ex(path, o, st, err, sizeof err) ==
                      ECRM_SAMPLE_OK,
                  "generate: %s", err);
}

/* Split one CSV line (RFC 4180, no embedded newlines) into at most MAX
 * fields written into BUF; returns the number of fields. */
static int split(const char *line, char **f, int max, char *buf)
{
    int n = 0;
    const char *p = line;
    char *w = buf;
    for (;;) {
        ck_assert_int_lt(n, max);
        f[n++] = w;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '"' && p[1] == '"') {
                    *w++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    ck_assert_int_ne(*p, '\0');
                    *w++ = *p++;
                }
            }
        } else {
            while (*p && *p != ',')
                *w++ = *p++;
        }
        *w++ = '\0';
        if (*p != ',')
            break;
        p++;
    }
    return n;
}

/* Next line of *P (terminated by \n) copied into LINE; 0 at the end. */
static int next_line(char **p, char *line, size_t len)
{
    if (!**p)
        return 0;
    char *nl = strchr(*p, '\n');
    ck_assert_ptr_nonnull(nl);
    size_t n = (size_t)(nl - *p);
    ck_assert_uint_lt(n, len);
    memcpy(line, *p, n);
    line[n] = '\0';
    *p = nl + 1;
    return 1;
}

START_TEST(test_deterministic)
{
    struct ecrm_sample_opts o;
    size_t la, lb;
    ecrm_sample_defaults(&o);
    o.events = 2000;
    gen("a", &o, NULL);
    gen("b", &o, NULL);
    const char *files[] = {"customers.csv", "orders.csv", "events.csv"};
    for (int i = 0; i < 3; i++) {
        char *a = slurp("a", files[i], &la);
        char *b = slurp("b", files[i], &lb);
        ck_assert_uint_eq(la, lb);
        ck_assert_msg(memcmp(a, b, la) == 0, "%s differs", files[i]);
        free(a);
        free(b);
    }
    /* another seed, other data */
    o.seed = 43;
    gen("c", &o, NULL);
    char *a = slurp("a", "orders.csv", &la);
    char *c = slurp("c", "orders.csv", &lb);
    ck_assert(la != lb || memcmp(a, c, la) != 0);
    free(a);
    free(c);
}
END_TEST

START_TEST(test_modes)
{
    struct ecrm_sample_opts o;
    struct stat st;
    char path[256];
    ecrm_sample_defaults(&o);
    o.customers = 10;
    o.orders = 10;
    gen("out/nested", &o, NULL);
    snprintf(path, sizeof path, "%s/out/nested", dir);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0700);
    const char *files[] = {"customers.csv", "orders.csv", "events.csv"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/out/nested/%s", dir, files[i]);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0600);
    }
    /* no temporary files left behind: the three files and nothing else */
    snprintf(path, sizeof path, "%s/out/nested", dir);
    DIR *dh = opendir(path);
    ck_assert_ptr_nonnull(dh);
    int entries = 0;
    for (struct dirent *de; (de = readdir(dh));)
        entries += de->d_name[0] != '.';
    closedir(dh);
    ck_assert_int_eq(entries, 3);
}
END_TEST

static int email_ok(const char *e)
{
    const char *at = strchr(e, '@');
    if (!at || at == e || strchr(at + 1, '@') || !strchr(at, '.'))
        return 0;
    for (const char *c = e; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '@' || *c == '-'))
            return 0;
    return strstr(e, "..") == NULL && e[0] != '.' && at[-1] != '.';
}

static int phone_ok(const char *p)
{
    size_t n = strlen(p);
    if (n == 0)
        return 1;
    if (p[0] == '+') {
        if (n != 13 || strncmp(p, "+447", 4) != 0)
            return 0;
        return strspn(p + 1, "0123456789") == 12;
    }
    /* national: "07700 900123" */
    return n == 12 && p[0] == '0' && p[5] == ' ' &&
           strspn(p, "0123456789") == 5 && strspn(p + 6, "0123456789") == 6;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

START_TEST(test_customers)
{
    struct ecrm_sample_opts o;
    struct ecrm_sample_stats st;
    size_t len;
    char line[2048], buf[2048], *f[32];
    long rows = 0, email_yes = 0, sms_yes = 0, phones = 0, nonascii = 0;
    ecrm_sample_defaults(&o);
    o.customers = 2000;
    o.orders = 10;
    gen("s", &o, &st);
    ck_assert_int_eq(st.customers, 2000);
    char *data = slurp("s", "customers.csv", &len), *p = data;
    char **emails = calloc(2000, sizeof(char *));
    char **phonev = calloc(2000, sizeof(char *));
    ck_assert(next_line(&p, line, sizeof line));
    ck_assert_str_eq(line, CUSTOMERS_HEADER);
    while (next_line(&p, line, sizeof line)) {
        ck_assert_int_eq(split(line, f, 32, buf), 15);
        ck_assert_int_lt(rows, 2000);
        char id[16];
        snprintf(id, sizeof id, "C%06ld", rows + 1);
        ck_assert_str_eq(f[0], id);
        ck_assert_msg(email_ok(f[1]), "bad email %s", f[1]);
        emails[rows] = strdup(f[1]);
        ck_assert_msg(phone_ok(f[2]), "bad phone '%s'", f[2]);
        if (*f[2]) {
            char norm[16];
            /* both formats name the same number space: compare the last 8 */
            snprintf(norm, sizeof norm, "%s", f[2] + strlen(f[2]) - 8);
            if (f[2][0] == '0')
                snprintf(norm, sizeof norm, "%.2s%s", f[2] + 3, f[2] + 6);
            phonev[phones++] = strdup(norm);
        }
        for (const char *c = f[3]; *c; c++)
            nonascii += (unsigned char)*c >= 0x80;
        ck_assert(strcmp(f[5], "m") == 0 || strcmp(f[5], "f") == 0);
        int y = atoi(f[6]);
        ck_assert_int_ge(y, 1950);
        ck_assert_int_le(y, 2006);
        ck_assert_uint_eq(strlen(f[6]), 10);
        ck_assert_uint_eq(strlen(f[8]), 2);
        ck_assert_ptr_nonnull(strchr(f[9], '/'));
        ck_assert_int_gt(atol(f[10]), 0);
        ck_assert_int_ge(atoi(f[11]), 0);
        ck_assert_int_le(atoi(f[11]), 3);
        ck_assert(strcmp(f[12], "yes") == 0 || strcmp(f[12], "no") == 0);
        ck_assert(strcmp(f[13], "yes") == 0 || strcmp(f[13], "no") == 0);
        email_yes += strcmp(f[12], "yes") == 0;
        sms_yes += strcmp(f[13], "yes") == 0;
        ck_assert_uint_eq(strlen(f[14]), 20);
        ck_assert_int_eq(f[14][19], 'Z');
        rows++;
    }
    ck_assert_int_eq(rows, 2000);
    ck_assert_int_gt(nonascii, 0);
    ck_assert_int_gt(email_yes, 1200); /* about 70% */
    ck_assert_int_lt(email_yes, 1600);
    ck_assert_int_gt(sms_yes, 600); /* about 40% */
    ck_assert_int_lt(sms_yes, 1000);
    ck_assert_int_gt(phones, 1500); /* a share without phone */
    ck_assert_int_lt(phones, 2000);
    /* identities must not collide: emails and phones are unique */
    qsort(emails, 2000, sizeof(char *), cmp_str);
    for (int i = 1; i < 2000; i++)
        ck_assert_str_ne(emails[i - 1], emails[i]);
    qsort(phonev, (size_t)phones, sizeof(char *), cmp_str);
    for (long i = 1; i < phones; i++)
        ck_assert_str_ne(phonev[i - 1], phonev[i]);
    for (int i = 0; i < 2000; i++)
        free(emails[i]);
    for (long i = 0; i < phones; i++)
        free(phonev[i]);
    free(emails);
    free(phonev);
    free(data);
}
END_TEST

START_TEST(test_orders)
{
    struct ecrm_sample_opts o;
    struct ecrm_sample_stats st;
    size_t len;
    char line[2048], buf[2048], *f[32], prev_t[32] = "";
    char gender[501];
    long lines = 0, rlines = 0, orders = 0, last_order = 0;
    long ww_f = 0, ww_all = 0, mw_m = 0, mw_all = 0;
    ecrm_sample_defaults(&o);
    o.customers = 500;
    o.orders = 3000;
    gen("s", &o, &st);
    ck_assert_int_eq(st.orders, 3000);

    /* customer genders, by index */
    char *cdata = slurp("s", "customers.csv", &len), *p = cdata;
    ck_assert(next_line(&p, line, sizeof line));
    for (int i = 1; next_line(&p, line, sizeof line); i++) {
        split(line, f, 32, buf);
        gender[i] = f[5][0];
    }
    free(cdata);

    char *data = slurp("s", "orders.csv", &len);
    p = data;
    ck_assert(next_line(&p, line, sizeof line));
    ck_assert_str_eq(line, ORDERS_HEADER);
    while (next_line(&p, line, sizeof line)) {
        ck_assert_int_eq(split(line, f, 32, buf), 10);
        int ret = f[0][0] == 'R';
        long order = atol(f[0] + ret);
        long qty = atol(f[6]);
        ck_assert_int_ge(atol(f[1]), 1);
        ck_assert_int_le(atol(f[1]), 5);
        ck_assert_int_eq(f[2][0], 'C');
        long ci = atol(f[2] + 1);
        ck_assert_int_ge(ci, 1);
        ck_assert_int_le(ci, 500);
        ck_assert_int_eq(f[3][0], 'S');
        ck_assert_int_le(atol(f[3] + 1), 300);
        ck_assert_uint_gt(strlen(f[4]), 0);
        ck_assert_str_eq(f[8], "EUR");
        ck_assert_ptr_nonnull(strchr(f[7], '.'));
        ck_assert_uint_eq(strlen(strchr(f[7], '.') + 1), 2);
        /* sorted by time, inside [start, end] */
        ck_assert_uint_eq(strlen(f[9]), 20);
        ck_assert_str_ge(f[9], prev_t);
        ck_assert_str_ge(f[9], "2025-01-01T00:00:00Z");
        ck_assert_str_le(f[9], "2025-12-31T23:59:59Z");
        snprintf(prev_t, sizeof prev_t, "%s", f[9]);
        if (ret) {
            ck_assert_int_lt(qty, 0);
            ck_assert_int_le(order, last_order); /* of an earlier order */
            rlines++;
        } else {
            ck_assert_int_gt(qty, 0);
            if (order != last_order) {
                ck_assert_int_eq(order, last_order ? last_order + 1 : 100001);
                ck_assert_str_eq(f[1], "1");
                orders++;
                last_order = order;
            }
            lines++;
            if (strcmp(f[5], "womenswear") == 0) {
                ww_all++;
                ww_f += gender[ci] == 'f';
            } else if (strcmp(f[5], "menswear") == 0) {
                mw_all++;
                mw_m += gender[ci] == 'm';
            }
        }
    }
    ck_assert_int_eq(orders, 3000);
    ck_assert_int_eq(lines, st.order_lines);
    ck_assert_int_eq(rlines, st.return_lines);
    ck_assert_int_gt(lines, 3000);
    ck_assert_int_lt(lines, 3000 * 5);
    /* about 3% of orders come back */
    ck_assert_int_gt(st.returns, 30);
    ck_assert_int_lt(st.returns, 180);
    /* the demographic signal the rules and CF are meant to find */
    ck_assert_int_gt(ww_all, 50);
    ck_assert_int_gt(mw_all, 50);
    ck_assert_msg(ww_f * 10 > ww_all * 8, "womenswear by women %ld/%ld", ww_f,
                  ww_all);
    ck_assert_msg(mw_m * 10 > mw_all * 8, "menswear by men %ld/%ld", mw_m,
                  mw_all);
    free(data);
}
END_TEST

/* events.csv: format, order, shares of the kinds, and browsing that
 * follows the same preferences as buying (toys by parents). */
START_TEST(test_events)
{
    struct ecrm_sample_opts o;
    struct ecrm_sample_stats st;
    size_t len;
    char line[2048], buf[2048], *f[32], prev_t[32] = "";
    int children[501];
    long rows = 0, views = 0, toys = 0, toys_parents = 0, parents = 0;
    ecrm_sample_defaults(&o);
    o.customers = 500;
    o.orders = 100;
    o.events = 20000;
    gen("s", &o, &st);
    ck_assert_int_eq(st.events, 20000);
    char *cdata = slurp("s", "customers.csv", &len), *p = cdata;
    ck_assert(next_line(&p, line, sizeof line));
    for (int i = 1; next_line(&p, line, sizeof line); i++) {
        split(line, f, 32, buf);
        children[i] = atoi(f[11]);
        parents += children[i] > 0;
    }
    free(cdata);
    char *data = slurp("s", "events.csv", &len);
    p = data;
    ck_assert(next_line(&p, line, sizeof line));
    ck_assert_str_eq(line, EVENTS_HEADER);
    while (next_line(&p, line, sizeof line)) {
        ck_assert_int_eq(split(line, f, 32, buf), 5);
        ck_assert_int_eq(f[0][0], 'C');
        long ci = atol(f[0] + 1);
        ck_assert_int_ge(ci, 1);
        ck_assert_int_le(ci, 500);
        const char *type = f[1], *url = f[2], *sku = f[3];
        if (!strcmp(type, "page_view")) {
            views++;
            ck_assert_int_eq(url[0], '/');
            if (!strncmp(url, "/product/", 9))
                ck_assert_str_eq(url + 9, sku); /* the page of that item */
            else
                ck_assert_str_eq(sku, "");
            if (!strcmp(url, "/category/toys")) {
                toys++;
                toys_parents += children[ci] > 0;
            }
        } else if (!strcmp(type, "add_to_cart")) {
            ck_assert_str_eq(url, "/cart/add");
            ck_assert_int_eq(sku[0], 'S');
        } else if (!strcmp(type, "newsletter_click")) {
            ck_assert_uint_eq(strlen(url), strlen("/newsletter/2025-01"));
        } else if (!strcmp(type, "ticket_opened")) {
            ck_assert_str_eq(url, "");
        } else {
            ck_assert_str_eq(type, "contest_entry");
            ck_assert_ptr_nonnull(strstr(url, "/contest/2025-q"));
        }
        ck_assert_uint_eq(strlen(f[4]), 20);
        ck_assert_str_ge(f[4], prev_t);
        ck_assert_str_ge(f[4], "2025-01-01T00:00:00Z");
        ck_assert_str_le(f[4], "2025-12-31T23:59:59Z");
        snprintf(prev_t, sizeof prev_t, "%s", f[4]);
        rows++;
    }
    ck_assert_int_eq(rows, 20000);
    /* 77% page views */
    ck_assert_int_gt(views, 20000 * 72 / 100);
    ck_assert_int_lt(views, 20000 * 82 / 100);
    /* parents look at toys far more than their share of customers */
    ck_assert_int_gt(toys, 50);
    ck_assert_msg(toys_parents * 500 > toys * parents * 3 / 2,
                  "toy pages by parents %ld/%ld, parents %ld/500", toys_parents,
                  toys, parents);
    free(data);
}
END_TEST

START_TEST(test_invalid)
{
    struct ecrm_sample_opts o;
    char path[256];
    snprintf(path, sizeof path, "%s/x", dir);
    ecrm_sample_defaults(&o);
    o.customers = 0;
    ck_assert_int_eq(ecrm_sample_generate(path, &o, err, sizeof err),
                     ECRM_SAMPLE_EINVAL);
    ck_assert_uint_gt(strlen(err), 0);
    ecrm_sample_defaults(&o);
    o.end = o.start;
    ck_assert_int_eq(ecrm_sample_generate(path, &o, err, sizeof err),
                     ECRM_SAMPLE_EINVAL);
    ecrm_sample_defaults(&o);
    o.sms_consent_rate = 1.5;
    ck_assert_int_eq(ecrm_sample_generate(path, &o, err, sizeof err),
                     ECRM_SAMPLE_EINVAL);
    ecrm_sample_defaults(&o);
    o.events = -1;
    ck_assert_int_eq(ecrm_sample_generate(path, &o, err, sizeof err),
                     ECRM_SAMPLE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "events"));
    /* nothing was created for invalid options */
    ck_assert_int_ne(access(path, F_OK), 0);
    /* a file where the directory should be */
    ecrm_sample_defaults(&o);
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fclose(fp);
    snprintf(path, sizeof path, "%s/x/y", dir);
    ck_assert_int_eq(ecrm_sample_generate(path, &o, err, sizeof err),
                     ECRM_SAMPLE_EIO);
    ck_assert_ptr_nonnull(strstr(err, path));
}
END_TEST

START_TEST(test_tiny)
{
    /* one customer, one item, no orders: still valid files */
    struct ecrm_sample_opts o;
    struct ecrm_sample_stats st;
    size_t len;
    ecrm_sample_defaults(&o);
    o.customers = 1;
    o.items = 1;
    o.orders = 0;
    gen("t", &o, &st);
    char *d = slurp("t", "orders.csv", &len);
    ck_assert_str_eq(d, ORDERS_HEADER "\n");
    free(d);
    d = slurp("t", "events.csv", &len); /* no events by default */
    ck_assert_str_eq(d, EVENTS_HEADER "\n");
    free(d);
    o.orders = 50;
    gen("t", &o, &st);
    d = slurp("t", "orders.csv", &len);
    ck_assert_ptr_nonnull(strstr(d, ",C000001,S000001,"));
    free(d);
}
END_TEST

static Suite *sample_suite(void)
{
    Suite *s = suite_create("sample");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_modes);
    tcase_add_test(tc, test_customers);
    tcase_add_test(tc, test_orders);
    tcase_add_test(tc, test_events);
    tcase_add_test(tc, test_invalid);
    tcase_add_test(tc, test_tiny);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sample_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
