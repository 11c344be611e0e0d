/*
 * racingline's TORCS robot: a bridge that lets a Python program drive a TORCS car in lock-step.
 *
 * Copyright (C) racingline contributors.
 * This program is free software; you can redistribute it and/or modify it under the terms of the GNU
 * General Public License as published by the Free Software Foundation; either version 2 of the License,
 * or (at your option) any later version. It is distributed WITHOUT ANY WARRANTY; see the GNU General
 * Public License for more details.
 *
 * It speaks the SCR ("Simulated Car Racing") protocol over UDP on 127.0.0.1: robot index i listens on
 * port $RACINGLINE_TORCS_PORT + i (default 3001 + i). A client sends "NAME(init a1 ... a19)" (range-finder
 * angles in degrees, -90 left .. 90 right) and is answered "***identified***". Then, every robot step
 * (0.02 s of simulated time) the robot sends the sensors "(angle v)(trackPos v)...(track v1 .. v19)..." and
 * WAITS for the reply "(accel a)(brake b)(gear g)(steer s)(clutch c)(focus f)(meta m)", so the simulation
 * runs in lock-step with the client. Extensions (ignored by SCR clients): replies may omit "gear"
 * (automatic gears) and may add "(repeat k)" (apply the action for k robot steps before the next
 * message); messages also carry "laps", "time", "x", "y" and "yaw". "(meta 1)" ends the process (the
 * client restarts TORCS). Without a reply within $RACINGLINE_TORCS_TIMEOUT_S (default 60) seconds (or a
 * first client within $RACINGLINE_TORCS_START_TIMEOUT_S) the robot exits, so an abandoned TORCS ends.
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <vector>

#include <tgf.h>
#include <track.h>
#include <car.h>
#include <raceman.h>
#include <robottools.h>
#include <robot.h>

namespace {

const int N_ROBOTS = 10;
const int N_TRACK = 19;
const int N_FOCUS = 5;
const int N_OPPONENTS = 36;
const double RANGE_M = 200.0;
const double BORDER_STEP_M = 2.0;

struct Bridge {
    int sock = -1;
    sockaddr_in client{};
    bool identified = false;
    float angles_rad[N_TRACK];
    float steer = 0, accel = 0, brake = 0, clutch = 0, focus_deg = 360;
    int gear = 1;          // the client's gear; automatic when the client sends none
    bool auto_gear = true;
    int repeat_left = 0;   // robot steps the last action still applies to
};

Bridge bridges[N_ROBOTS];
tTrack *the_track = nullptr;
std::vector<float> border_x, border_y;  // left border points, then right border points (closed polylines)
std::vector<float> center_x, center_y;  // the middle line, sampled as the borders are
int n_border = 0;                       // points per border

void die(const char *what) {
    fprintf(stderr, "racingline robot: %s\n", what);
    fflush(stderr);
    _exit(3);
}

double seconds_from(const char *variable, double fallback) {
    const char *t = getenv(variable);
    double v = t ? atof(t) : fallback;
    return v > 0 ? v : fallback;
}

// Sample both borders of the main track every ~BORDER_STEP_M metres.
void build_borders(tTrack *track) {
    border_x.clear();
    border_y.clear();
    center_x.clear();
    center_y.clear();
    std::vector<float> lx, ly, rx, ry;
    tTrackSeg *seg = track->seg->next;  // track->seg is the last segment
    for (int i = 0; i < track->nseg; i++, seg = seg->next) {
        int n = (int)ceil(seg->length / BORDER_STEP_M);
        if (n < 1) n = 1;
        double span = seg->type == TR_STR ? seg->length : seg->arc;
        for (int k = 0; k < n; k++) {
            tTrkLocPos p;
            p.seg = seg;
            p.type = TR_LPOS_MAIN;
            p.toStart = (tdble)(span * k / n);
            tdble x, y;
            p.toRight = RtTrackGetWidth(seg, p.toStart);
            RtTrackLocal2Global(&p, &x, &y, TR_TORIGHT);
            lx.push_back(x);
            ly.push_back(y);
            p.toRight = 0;
            RtTrackLocal2Global(&p, &x, &y, TR_TORIGHT);
            rx.push_back(x);
            ry.push_back(y);
            RtTrackLocal2Global(&p, &x, &y, TR_TOMIDDLE);
            center_x.push_back(x);
            center_y.push_back(y);
        }
    }
    n_border = (int)lx.size();
    border_x = lx;
    border_x.insert(border_x.end(), rx.begin(), rx.end());
    border_y = ly;
    border_y.insert(border_y.end(), ry.begin(), ry.end());
}

// Distance from (x, y) along heading dir to the first border crossing, capped at RANGE_M.
double cast(double x, double y, double dir, const std::vector<int> &near) {
    double dx = cos(dir), dy = sin(dir), best = RANGE_M;
    for (int j : near) {
        int b = j >= n_border ? n_border : 0;           // which border j is on
        int k = j + 1 - b < n_border ? j + 1 : b;       // its next point, wrapping round
        double ax = border_x[j], ay = border_y[j];
        double ex = border_x[k] - ax, ey = border_y[k] - ay;
        double den = dx * ey - dy * ex;
        if (fabs(den) < 1e-12) continue;
        double wx = ax - x, wy = ay - y;
        double t = (wx * ey - wy * ex) / den;      // along the ray
        double u = (wx * dy - wy * dx) / den;      // along the border piece
        if (t >= 0 && t < best && u >= 0 && u <= 1) best = t;
    }
    return best;
}

// Border pieces with an end within reach of the car.
void near_pieces(double x, double y, std::vector<int> &near) {
    near.clear();
    double reach = RANGE_M + 2 * BORDER_STEP_M;
    double r2 = reach * reach;
    int n = (int)border_x.size();
    for (int j = 0; j < n; j++) {
        double dx = border_x[j] - x, dy = border_y[j] - y;
        if (dx * dx + dy * dy < r2) {
            near.push_back(j);
            int prev = j == 0 ? n_border - 1 : (j == n_border ? 2 * n_border - 1 : j - 1);
            near.push_back(prev);  // the piece ending here
        }
    }
}

int auto_gear(tCarElt *car) {
    const float shift = 0.9f, margin_mps = 4.0f;
    if (car->_gear <= 0) return 1;
    float wheel_r = car->_wheelRadius(2);
    float up_mps = car->_enginerpmRedLine / car->_gearRatio[car->_gear + car->_gearOffset] * wheel_r;
    if (up_mps * shift < car->_speed_x && car->_gear < car->_gearNb - 1) return car->_gear + 1;
    if (car->_gear > 1) {
        float down_mps = car->_enginerpmRedLine / car->_gearRatio[car->_gear + car->_gearOffset - 1] * wheel_r;
        if (down_mps * shift > car->_speed_x + margin_mps) return car->_gear - 1;
    }
    return car->_gear;
}

void set_timeout(int sock, double seconds) {
    timeval tv;
    tv.tv_sec = (time_t)seconds;
    tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

// Read one datagram; returns its length (0-terminated in buf), or exits on timeout.
int receive(Bridge &b, char *buf, int size) {
    socklen_t len = sizeof(b.client);
    int n = (int)recvfrom(b.sock, buf, size - 1, 0, (sockaddr *)&b.client, &len);
    if (n < 0) die("no message from the client in time (RACINGLINE_TORCS_TIMEOUT_S); exiting");
    buf[n] = 0;
    return n;
}

void send_text(Bridge &b, const char *text) {
    sendto(b.sock, text, strlen(text), 0, (sockaddr *)&b.client, sizeof(b.client));
}

// "NAME(init a1 ... a19)": keep the angles (the default fan when fewer are given) and answer.
bool identify(Bridge &b, const char *msg) {
    const char *p = strstr(msg, "(init");
    if (!p) return false;
    p += 5;
    for (int i = 0; i < N_TRACK; i++) {
        char *end;
        double v = strtod(p, &end);
        b.angles_rad[i] = (float)((end == p ? -90.0 + 10.0 * i : v) * PI / 180.0);
        if (end != p) p = end;
    }
    b.identified = true;
    send_text(b, "***identified***");
    return true;
}

double field(const char *msg, const char *name, double fallback, bool *found = nullptr) {
    char key[32];
    snprintf(key, sizeof(key), "(%s ", name);
    const char *p = strstr(msg, key);
    if (found) *found = p != nullptr;
    return p ? atof(p + strlen(key)) : fallback;
}

void apply(Bridge &b, tCarElt *car) {
    car->_steerCmd = b.steer;
    car->_accelCmd = b.accel;
    car->_brakeCmd = b.brake;
    car->_clutchCmd = b.clutch;
    car->_gearCmd = b.auto_gear ? auto_gear(car) : b.gear;
}

void read_action(Bridge &b, const char *msg) {
    if (field(msg, "meta", 0) >= 1) _exit(0);  // a restart: the client starts a new TORCS
    b.accel = (float)fmin(1.0, fmax(0.0, field(msg, "accel", 0)));
    b.brake = (float)fmin(1.0, fmax(0.0, field(msg, "brake", 0)));
    b.steer = (float)fmin(1.0, fmax(-1.0, field(msg, "steer", 0)));
    b.clutch = (float)fmin(1.0, fmax(0.0, field(msg, "clutch", 0)));
    b.focus_deg = (float)field(msg, "focus", 360);
    bool has_gear = false;
    b.gear = (int)field(msg, "gear", 1, &has_gear);
    b.auto_gear = !has_gear;
    int repeat = (int)field(msg, "repeat", 1);
    b.repeat_left = repeat > 1 ? repeat - 1 : 0;
}

int append(char *buf, int at, int size, const char *name, const double *v, int n) {
    at += snprintf(buf + at, size - at, "(%s", name);
    for (int i = 0; i < n && at < size; i++) at += snprintf(buf + at, size - at, " %.6g", v[i]);
    return at < size ? at + snprintf(buf + at, size - at, ")") : at;
}

int sensors(Bridge &b, tCarElt *car, tSituation *s, char *buf, int size) {
    double angle = RtTrackSideTgAngleL(&car->_trkPos) - car->_yaw;
    NORM_PI_PI(angle);
    double half_w = car->_trkPos.seg->width / 2.0;
    double track_pos = car->_trkPos.toMiddle / half_w;
    double x = car->_pos_X, y = car->_pos_Y;
    std::vector<int> near;
    near.reserve(1024);
    double track[N_TRACK], focus[N_FOCUS], opp[N_OPPONENTS], spin[4];
    bool off = fabs(track_pos) > 1.0;
    if (!off) near_pieces(x, y, near);
    for (int i = 0; i < N_TRACK; i++) track[i] = off ? -1.0 : cast(x, y, car->_yaw - b.angles_rad[i], near);
    bool focus_ok = !off && fabs(b.focus_deg) <= 90.0;
    for (int i = 0; i < N_FOCUS; i++)
        focus[i] = focus_ok ? cast(x, y, car->_yaw - (b.focus_deg + i - 2) * PI / 180.0, near) : -1.0;
    for (int i = 0; i < N_OPPONENTS; i++) opp[i] = RANGE_M;
    for (int i = 0; i < s->_ncars; i++) {
        tCarElt *o = s->cars[i];
        if (o == car || (o->_state & RM_CAR_STATE_NO_SIMU)) continue;
        double dx = o->_pos_X - x, dy = o->_pos_Y - y, d = sqrt(dx * dx + dy * dy);
        if (d >= RANGE_M) continue;
        double rel = car->_yaw - atan2(dy, dx);  // + to the right, as the range-finders
        NORM_PI_PI(rel);
        int sector = (int)floor((rel + PI) / (2 * PI) * N_OPPONENTS);
        sector = sector < 0 ? 0 : (sector >= N_OPPONENTS ? N_OPPONENTS - 1 : sector);
        if (d < opp[sector]) opp[sector] = d;
    }
    for (int i = 0; i < 4; i++) spin[i] = car->_wheelSpinVel(i);
    double z = car->_pos_Z - RtTrackHeightL(&car->_trkPos);
    double one[1];
    int at = 0;
#define ONE(name, value) (one[0] = (value), at = append(buf, at, size, name, one, 1))
    ONE("angle", angle);
    ONE("curLapTime", car->_curLapTime);
    ONE("damage", car->_dammage);
    ONE("distFromStart", car->_distFromStartLine);
    ONE("distRaced", car->_distRaced);
    ONE("fuel", car->_fuel);
    ONE("gear", car->_gear);
    ONE("lastLapTime", car->_lastLapTime);
    at = append(buf, at, size, "opponents", opp, N_OPPONENTS);
    ONE("racePos", car->_pos);
    ONE("rpm", car->_enginerpm * 10.0);
    ONE("speedX", car->_speed_x * 3.6);
    ONE("speedY", car->_speed_y * 3.6);
    ONE("speedZ", car->_speed_z * 3.6);
    at = append(buf, at, size, "track", track, N_TRACK);
    ONE("trackPos", track_pos);
    at = append(buf, at, size, "wheelSpinVel", spin, 4);
    ONE("z", z);
    at = append(buf, at, size, "focus", focus, N_FOCUS);
    ONE("laps", car->_laps);
    ONE("time", s->currentTime);
    ONE("x", x);
    ONE("y", y);
    ONE("yaw", car->_yaw);
    ONE("totalDistFromStart", car->_distRaced);
#undef ONE
    return at;
}

// $RACINGLINE_TORCS_TRACK_OUT set: write the track's middle line and borders there ("x y" of the middle,
// left and right, one sample per line, metres) and exit: how racingline reads a track's shape.
void write_track(tTrack *track, const char *path) {
    build_borders(track);
    FILE *f = fopen(path, "w");
    if (!f) die("cannot write the track file (RACINGLINE_TORCS_TRACK_OUT)");
    fprintf(f, "# %s %s %.3f\n", track->category, track->internalname, track->length);
    for (int i = 0; i < n_border; i++)
        fprintf(f, "%.4f %.4f %.4f %.4f %.4f %.4f\n", center_x[i], center_y[i], border_x[i], border_y[i],
                border_x[n_border + i], border_y[n_border + i]);
    fclose(f);
    _exit(0);
}

void init_track(int index, tTrack *track, void *, void **car_settings, tSituation *) {
    the_track = track;
    *car_settings = nullptr;  // the car's own default setup
    const char *out = getenv("RACINGLINE_TORCS_TRACK_OUT");
    if (out && *out) write_track(track, out);
}

void new_race(int index, tCarElt *car, tSituation *) {
    Bridge &b = bridges[index];
    if (the_track != nullptr && border_x.empty()) build_borders(the_track);
    const char *base = getenv("RACINGLINE_TORCS_PORT");
    int port = (base ? atoi(base) : 3001) + index;
    b.sock = socket(AF_INET, SOCK_DGRAM, 0);
    if (b.sock < 0) die("cannot create a UDP socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(b.sock, (sockaddr *)&addr, sizeof(addr)) < 0) {
        fprintf(stderr, "racingline robot: UDP port %d is in use\n", port);
        fflush(stderr);
        _exit(4);
    }
    set_timeout(b.sock, seconds_from("RACINGLINE_TORCS_START_TIMEOUT_S", 60.0));  // a client may come later
    char buf[1024];
    while (!b.identified) {
        receive(b, buf, sizeof(buf));
        identify(b, buf);
    }
    set_timeout(b.sock, seconds_from("RACINGLINE_TORCS_TIMEOUT_S", 60.0));
    b.gear = 1;
    car->_gearCmd = 1;
}

void drive(int index, tCarElt *car, tSituation *s) {
    Bridge &b = bridges[index];
    if (b.repeat_left > 0) {
        b.repeat_left--;
        apply(b, car);
        return;
    }
    char out[4096], in[1024];
    sensors(b, car, s, out, sizeof(out));
    send_text(b, out);
    while (true) {
        receive(b, in, sizeof(in));
        if (identify(b, in)) {  // a client that (re)connects: identified, then the sensors again
            send_text(b, out);
            continue;
        }
        break;
    }
    read_action(b, in);
    apply(b, car);
}

int pit_cmd(int, tCarElt *, tSituation *) { return ROB_PIT_IM; }

void end_race(int index, tCarElt *, tSituation *) {
    Bridge &b = bridges[index];
    if (b.sock >= 0 && b.identified) send_text(b, "***shutdown***");
}

void shutdown(int index) {
    Bridge &b = bridges[index];
    if (b.sock >= 0) close(b.sock);
    b.sock = -1;
}

int init_robot(int index, void *pt) {
    tRobotItf *itf = (tRobotItf *)pt;
    itf->rbNewTrack = init_track;
    itf->rbNewRace = new_race;
    itf->rbDrive = drive;
    itf->rbPitCmd = pit_cmd;
    itf->rbEndRace = end_race;
    itf->rbShutdown = shutdown;
    itf->index = index;
    return 0;
}

}  // namespace

// The module's entry point: TORCS calls the function named like the module.
extern "C" int racingline(tModInfo *info) {
    memset(info, 0, N_ROBOTS * sizeof(tModInfo));
    for (int i = 0; i < N_ROBOTS; i++) {
        char name[32];
        snprintf(name, sizeof(name), "racingline %d", i + 1);
        info[i].name = strdup(name);
        info[i].desc = strdup("racingline's Python bridge (SCR protocol over UDP)");
        info[i].fctInit = init_robot;
        info[i].gfId = ROB_IDENT;
        info[i].index = i;
    }
    return 0;
}
